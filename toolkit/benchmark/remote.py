"""`edgebb bench --remote user@host`: benchmark on a device over SSH and bring the results back.

The artifacts (and the manifests that describe them) are resolved here, on the workstation: backbone names are
converted here, where TensorFlow is, and so is the ResNet-50 baseline. They are copied to a fresh folder on the
device with scp, `PYTHON -m edgebb bench` runs there with the device's own install (`pip install 'edgebb[device]'`),
and its JSON is copied back. The report keeps the device's environment (board, CPU, governor, temperature,
throttling), adds `env.remote`, and marks every row `target: "remote:HOST"`.

ssh and scp run as subprocesses with BatchMode=yes (a password prompt would hang), a ConnectTimeout and
StrictHostKeyChecking=accept-new (a new device's key is learnt, a changed key is refused). Options given by the user
(`--ssh-option`, or ~/.ssh/config) come first, and ssh keeps the first value it sees, so they override these.
Each way this can fail ends in one line: a `RemoteError` (an InputError, exit code 2) whose `kind` names the case.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ..core.errors import InputError
from ..core.progress import Progress, as_progress
from .harness import INPUT_SAMPLES, add_baselines
from .options import BenchOptions
from .rows import BenchReport
from .targets import Target, collect_targets

# ssh keeps the first value it is given for an option, so these come after the user's own.
DEFAULT_SSH_OPTIONS = ("BatchMode=yes", "ConnectTimeout=10", "StrictHostKeyChecking=accept-new",
                       "ServerAliveInterval=15", "ServerAliveCountMax=4")
MARK = "EDGEBB_REMOTE"
# The remote probe's exit codes (ssh itself exits 255 for its own failures).
_NO_PYTHON, _NO_EDGEBB = 3, 4
# Input samples bench feeds from --data (harness.inputs_for): only those images are copied to the device.
_DATA_SAMPLES = INPUT_SAMPLES


class RemoteError(InputError):
    """A remote bench that could not run. `kind` is one of: refused, unreachable, unknown-host, auth, host-key,
    no-python, not-installed, bench-failed, copy-failed, no-sftp, lost."""

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


@dataclass
class RemoteRun:
    """What a remote bench did: recorded in the report's `env.remote`."""

    destination: str
    host: str
    python: str
    edgebb_version: str | None = None
    folder: str | None = None
    copied_files: int = 0
    copied_bytes: int = 0
    copy_seconds: float = 0.0
    bench_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


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
        raise InputError(f"--remote {text}: expected user@host, host, user@host:port or ssh://user@host:port")
    return (f"{user}@{host}" if at else host), host, port


def remote_bench(items: list[str], remote: str, options: BenchOptions | None = None, *, python: str = "python3",
                 ssh_options: tuple[str, ...] = (), progress: Progress | None = None, **kwargs) -> BenchReport:
    """Run `edgebb bench` on the device at `remote` (see parse_destination) with its Python `python`, on `items`
    (artifacts, manifests or folders, backbone names: resolved and converted here) and return its BenchReport.

    `options` (a BenchOptions) and keyword arguments naming its fields say how, as for `edgebb.bench`.
    `ssh_options` ("Key=value") go to ssh and scp before edgebb's defaults, so they win.

    Raises RemoteError (an InputError) when the device cannot be reached or logged in to, has no such Python or no
    edgebb, or the bench there fails as a whole (rows that fail are rows, as on this machine); InputError for bad
    input found here.
    """
    opts = BenchOptions.from_kwargs(options, kwargs)
    say = as_progress(progress)
    destination, host, port = parse_destination(remote)
    for option in ssh_options:
        if "=" not in option or option.startswith("="):
            raise InputError(f"--ssh-option must be Key=value (as ssh -o takes it); received {option!r}")
    target = Remote(destination, host, port, python, tuple(ssh_options) + DEFAULT_SSH_OPTIONS)
    if "keras" in opts.runtimes:
        raise InputError("--runtime keras needs TensorFlow, which a device install does not have; with --remote "
                         "use litert, litert-gpu, tflite-runtime or onnxruntime")
    targets = collect_targets(list(items), recipes=list(opts.recipes), formats=opts.formats, size=opts.size,
                              progress=progress)
    formats = device_formats(opts, targets)
    run = RemoteRun(destination=destination, host=host, python=python)
    if opts.baseline != "none":
        # The device has no TensorFlow to convert the baseline with: convert it here, at the recipe and input size of
        # each model it is compared with (as a local bench does), and send it along.
        targets, notes = add_baselines(targets, opts.baseline, formats, progress)
        run.notes.extend(notes)
    bundles, remote_items = _bundles(targets, formats)
    if not remote_items:
        raise InputError(f"nothing to send to {host}: no {' or '.join(formats)} artifact among the inputs")
    if opts.data is not None and not os.path.isdir(opts.data):
        raise InputError(f"data folder not found: {opts.data}")
    data_files = _data_sample(opts.data) if opts.data else {}
    copies = [(f"a{i}", files) for i, files in enumerate(bundles)] + [(f"data/{d}", f) for d, f in data_files.items()]

    say.say(f"remote: connecting to {destination}{f' port {port}' if port else ''}")
    folder, version = _probe(target, [sub for sub, _ in copies])
    run.folder, run.edgebb_version = folder, version
    try:
        started = time.perf_counter()
        for sub, files in copies:
            _copy(target, files, f":{folder}/{sub}/")
        run.copied_files = sum(len(files) for _, files in copies)
        run.copied_bytes = sum(os.path.getsize(p) for _, files in copies for p in files)
        run.copy_seconds = time.perf_counter() - started
        say.say(f"remote: copied {run.copied_files} file(s), {run.copied_bytes / 1e6:.1f} MB, to {host}:{folder} "
                f"in {run.copy_seconds:.1f} s")
        args = [f"{folder}/a{i}/{name}" for i, name in remote_items]
        args += opts.to_argv() + ["--json", f"{folder}/results.json"]
        if data_files:
            args += ["--data", f"{folder}/data"]
        started = time.perf_counter()
        _run_bench(target, folder, args, say.say)
        run.bench_seconds = time.perf_counter() - started
        report = _fetch(target, folder)
    finally:
        _cleanup(target, folder)
    return _localize(report, run, bundles, remote_items, folder)


def device_formats(opts: BenchOptions, targets: list[Target]) -> list[str]:
    """The artifact formats the device will run, so the ones to send (and to convert the baseline to): those of
    --runtime's or --best's runtimes; without either, every format an item has a file of, since the device runs
    each artifact on its own format's runtime, as a local bench does (a .tflite on litert, an .onnx on
    onnxruntime)."""
    from ..core.formats import FORMATS

    if opts.runtimes or opts.best:
        return opts.formats
    return sorted({f for t in targets for f in t.artifacts if FORMATS[f].artifact}) or opts.formats


def _bundles(targets: list[Target], formats: list[str]) -> tuple[list[list[str]], list[tuple[int, str]]]:
    """The files to copy, one list per local folder (its artifacts, and the manifest.json beside them, which tells
    the device the model name, MACs and preprocessing), and the remote items as (folder index, file name)."""
    folders: dict[str, list[str]] = {}
    items: list[tuple[int, str]] = []
    for t in targets:
        for fmt in formats:
            path = t.artifacts.get(fmt)
            if not path:
                continue
            path = os.path.abspath(path)
            folder = os.path.dirname(path)
            files = folders.setdefault(folder, [])
            manifest = os.path.join(folder, "manifest.json")
            if os.path.exists(manifest) and manifest not in files:
                files.append(manifest)
            if path not in files:
                files.append(path)
            index = list(folders).index(folder)
            if (index, os.path.basename(path)) not in items:
                items.append((index, os.path.basename(path)))
    return list(folders.values()), items


def _data_sample(data: str) -> dict[str, list[str]]:
    """The images bench feeds from `data` (the first few), by their folder relative to `data`: only those go to the
    device, in the same class layout, so the device reads the same images in the same order."""
    from ..data import scan_folder

    folders: dict[str, list[str]] = {}
    for item in scan_folder(data).items[:_DATA_SAMPLES]:
        folders.setdefault(os.path.relpath(os.path.dirname(item.path), data), []).append(item.path)
    return folders


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


def _probe(remote: Remote, subfolders: list[str]) -> tuple[str, str]:
    """Check the device's Python and edgebb, and make a fresh folder there with `subfolders` (relative paths).
    Returns the folder and the device's edgebb version."""
    py = remote.python_word()
    mkdirs = " ".join('"$dir"/' + shlex.quote(sub) for sub in subfolders)
    script = (f'py={py}; '
              f'command -v "$py" >/dev/null 2>&1 || exit {_NO_PYTHON}; '
              f'out=$("$py" -m edgebb --version 2>&1) || {{ printf "%s\\n" "$out" >&2; exit {_NO_EDGEBB}; }}; '
              f'dir=$(mktemp -d "${{TMPDIR:-/tmp}}/edgebb-remote.XXXXXX") && mkdir -p {mkdirs} '
              f'&& echo "{MARK} $dir $out"')
    result = _ssh(remote, "sh -c " + shlex.quote(script), timeout=120)
    if result.returncode == 255:
        raise _ssh_failure(remote, result.stderr)
    if result.returncode == _NO_PYTHON:
        raise RemoteError("no-python", f"{remote.python} not found on {remote.host} (--remote-python: the device's "
                                       "Python, e.g. ~/edgebb/bin/python for a virtual environment)")
    if result.returncode == _NO_EDGEBB:
        lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
        why = f" ({lines[-1].strip()})" if lines else ""
        raise RemoteError("not-installed", f"edgebb is not installed for {remote.python} on {remote.host}: "
                                           f"pip install 'edgebb[device]'{why}")
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith(MARK + " ")), None)
    if result.returncode != 0 or line is None:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RemoteError("bench-failed", f"cannot prepare a folder on {remote.host} (exit {result.returncode}): "
                                          f"{last}")
    _, folder, version = line.split(" ", 2)
    return folder, version.rpartition(" ")[2]


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


def _run_bench(remote: Remote, folder: str, args: list[str], say: Callable[[str], None]) -> None:
    """Run `edgebb bench` on the device; its progress lines are passed on as they come."""
    command = f"cd {shlex.quote(folder)} && {remote.python_word()} -m edgebb bench " + " ".join(map(shlex.quote, args))
    proc = subprocess.Popen(remote.ssh(command), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        line = line.rstrip()
        lines.append(line)
        if line.startswith("[") or line.startswith("converting"):
            say(f"{remote.host}: {line}")
    code = proc.wait()
    if code in (0, 1):  # 1: some rows failed; they are in the JSON like any other row
        return
    if code == 255:
        raise _ssh_failure(remote, "\n".join(lines))
    last = next((ln for ln in reversed(lines) if ln.strip()), "no message")
    last = last.removeprefix("edgebb: error: ")
    raise RemoteError("bench-failed", f"edgebb bench failed on {remote.host} (exit {code}): {last}")


def _fetch(remote: Remote, folder: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="edgebb-remote-") as local:
        _copy(remote, [f":{folder}/results.json"], local + "/")
        try:
            with open(os.path.join(local, "results.json")) as f:
                return json.load(f)
        except (OSError, ValueError) as exc:
            raise RemoteError("bench-failed", f"edgebb bench on {remote.host} wrote no readable results "
                                              f"({type(exc).__name__})") from exc


def _cleanup(remote: Remote, folder: str) -> None:
    """Remove the device's working folder; best effort, so it never hides the error that brought us here."""
    try:
        subprocess.run(remote.ssh(f"rm -rf {shlex.quote(folder)}"), capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _localize(report: dict, run: RemoteRun, bundles: list[list[str]], items: list[tuple[int, str]],
              folder: str) -> BenchReport:
    """The device's report with rows marked remote, paths pointing at the local artifacts, and env.remote."""
    from .. import __version__

    local = {f"{folder}/a{i}/{name}": next(p for p in bundles[i] if os.path.basename(p) == name) for i, name in items}
    for row in report.get("results", []):
        row["target"] = f"remote:{run.host}" + (":gpu" if row.get("target") == "gpu" else "")
        row["remote_path"] = row.get("path")
        row["path"] = local.get(row.get("path"), row.get("path"))
    notes = list(report.get("notes", [])) + run.notes
    if run.edgebb_version and run.edgebb_version != __version__:
        notes.append(f"edgebb {run.edgebb_version} ran on {run.host}; this machine has {__version__}")
    env = dict(report.get("env", {}))
    remote_env = asdict(run)
    remote_env.pop("notes")
    env["remote"] = remote_env
    return BenchReport.from_dict({**report, "env": env, "notes": notes})
