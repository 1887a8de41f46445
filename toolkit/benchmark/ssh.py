"""SSH to a device: how edgebb reaches it (`Remote`: ssh and scp argv), what a failure means (`RemoteError`, one line
each), and the steps every remote use shares: run a command, copy files, remove a folder.

ssh and scp run as subprocesses with BatchMode=yes (a password prompt would hang), a ConnectTimeout and
StrictHostKeyChecking=accept-new (a new device's key is learnt, a changed key is refused). Options given by the user
(`--ssh-option`, or ~/.ssh/config) come first, and ssh keeps the first value it sees, so they override these.
Each way this can fail ends in one line: a `RemoteError` (an InputError, exit code 2) whose `kind` names the case.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass

from ..core.errors import InputError

# ssh keeps the first value it is given for an option, so these come after the user's own.
DEFAULT_SSH_OPTIONS = ("BatchMode=yes", "ConnectTimeout=10", "StrictHostKeyChecking=accept-new",
                       "ServerAliveInterval=15", "ServerAliveCountMax=4")


class RemoteError(InputError):
    """A remote bench that could not run. `kind` is one of: refused, unreachable, unknown-host, auth, host-key,
    no-python, not-installed, no-runtime, bench-failed, copy-failed, no-sftp, lost."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Remote:
    """Where and how to reach the device."""

    destination: str  # [user@]host, as ssh takes it
    host: str
    port: int | None = None
    python: str = "python3"
    ssh_options: tuple[str, ...] = DEFAULT_SSH_OPTIONS

    def _options(self) -> list[str]:
        args = []
        for option in self.ssh_options:
            args += ["-o", option]
        if self.port:
            args += ["-o", f"Port={self.port}"]
        return args

    def ssh(self, command: str) -> list[str]:
        """The argv that runs `command` (a shell command line) on the device."""
        return ["ssh", *self._options(), "-T", self.destination, command]

    def scp(self, sources: list[str], target: str) -> list[str]:
        """The argv that copies `sources` to `target`; a remote side is written `:path`."""

        def side(path: str) -> str:
            if not path.startswith(":"):
                return path
            host = f"[{self.host}]" if ":" in self.host else self.host
            user = self.destination.rpartition("@")[0]
            return f"{user + '@' if user else ''}{host}{path}"

        # LogLevel=ERROR, not -q (QUIET): ssh's errors ("subsystem request failed") tell a device without SFTP from a
        # lost connection; after the user's options, so theirs win.
        return ["scp", "-p", *self._options(), "-o", "LogLevel=ERROR", *[side(s) for s in sources], side(target)]

    def copy_id_command(self) -> str:
        """The command that installs this machine's key on the device, at its port (ssh-copy-id's default is 22)."""
        return shlex.join(["ssh-copy-id", *(["-p", str(self.port)] if self.port else []), self.destination])

    def forget_key_command(self) -> str:
        """The command that forgets the device's host key (known_hosts says "[host]:port" for a port but 22)."""
        name = f"[{self.host}]:{self.port}" if self.port and self.port != 22 else self.host
        return shlex.join(["ssh-keygen", "-R", name])

    def python_word(self) -> str:
        """The remote Python as a shell word; a leading ~/ is the remote user's home."""
        if self.python.startswith("~/"):
            return '"$HOME"/' + shlex.quote(self.python[2:])
        return shlex.quote(self.python)


def parse_destination(text: str) -> tuple[str, str, int | None]:
    """(destination for ssh, host, port) from "host", "user@host", "user@host:port" or "ssh://user@host:port".

    Raises InputError for an empty host or a bad port."""
    raw = text.strip()
    if raw.startswith("ssh://"):
        raw = raw[len("ssh://"):].rstrip("/")
    user, at, hostport = raw.rpartition("@")
    port = None
    match = re.fullmatch(r"\[(?P<v6>[^\]]+)\](?::(?P<p6>[^:]*))?|(?P<host>[^:]*)(?::(?P<port>[^:]*))?", hostport)
    if not match:  # a bare IPv6 address: no port possible
        host = hostport
    else:
        host = match["v6"] or match["host"] or ""
        port_text = match["p6"] if match["v6"] else match["port"]
        if port_text is not None:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise InputError(f"--remote {text}: the port must be a number from 1 to 65535")
            port = int(port_text)
    if not host or (at and not user):
        shown = text or "''"  # an unset shell variable
        raise InputError(f"--remote {shown}: expected user@host, host, user@host:port or ssh://user@host:port")
    return (f"{user}@{host}" if at else host), host, port


# ------------------------------------------------------------------------------------------------- ssh steps


def _ssh_failure(remote: Remote, stderr: str) -> RemoteError:
    """The one-line error for an ssh or scp that failed on its own (exit code 255), from what it printed."""
    text = stderr.strip()
    last = text.splitlines()[-1] if text else "no message"
    where = f"{remote.host}{f' port {remote.port}' if remote.port else ''}"
    low = text.lower()
    if "connection refused" in low:
        return RemoteError("refused", f"cannot connect to {where}: connection refused (is the SSH server running "
                                      "there, and on that port?)")
    if "could not resolve hostname" in low or "name or service not known" in low:
        return RemoteError("unknown-host", f"cannot resolve host name {remote.host!r}")
    if any(s in low for s in ("timed out", "no route to host", "network is unreachable", "host is unreachable")):
        return RemoteError("unreachable", f"cannot reach {where}: {last.rpartition(': ')[2] or last}")
    if "host key verification failed" in low or "remote host identification has changed" in low:
        return RemoteError("host-key", f"the SSH host key of {remote.host} is not the one known for it "
                                       f"(reinstalled device? check, then: {remote.forget_key_command()})")
    if "permission denied" in low or "too many authentication failures" in low:
        return RemoteError("auth", f"{remote.destination} did not accept this machine's SSH keys, and edgebb never "
                                   f"asks for a password (BatchMode=yes): {remote.copy_id_command()}")
    if "connection closed" in low or "broken pipe" in low or "connection reset" in low:
        return RemoteError("lost", f"lost the connection to {where}: {last}")
    return RemoteError("unreachable", f"ssh to {remote.destination} failed: {last}")


def _ssh(remote: Remote, command: str, timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(remote.ssh(command), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise RemoteError("unreachable", "ssh is not installed here (Debian: apt-get install openssh-client)") from None
    except subprocess.TimeoutExpired:
        raise RemoteError("unreachable", f"{remote.host} did not answer within {timeout:g} s") from None


def _copy(remote: Remote, sources: list[str], target: str) -> None:
    try:
        result = subprocess.run(remote.scp(sources, target), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise RemoteError("copy-failed", "scp is not installed here (Debian: apt-get install openssh-client)") \
            from None
    if result.returncode != 0:
        if "subsystem request failed" in result.stderr.lower():
            raise RemoteError("no-sftp", f"copying to {remote.host} failed: its SSH server refused the sftp subsystem, "
                                         "which scp copies over (OpenSSH 9 and later; scp -O, the legacy protocol, "
                                         "does without it): enable it in the device's sshd_config (Subsystem sftp "
                                         "internal-sftp) and restart sshd")
        if result.returncode == 255 or "connection" in result.stderr.lower():
            raise _ssh_failure(remote, result.stderr)
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise RemoteError("copy-failed", f"copying to {remote.host} failed: {last}")


def _cleanup(remote: Remote, folder: str) -> None:
    """Remove the device's working folder; best effort, so it never hides the error that brought us here."""
    try:
        subprocess.run(remote.ssh(f"rm -rf {shlex.quote(folder)}"), capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        pass
