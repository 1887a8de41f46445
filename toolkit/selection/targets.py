"""Sweep targets: anything `edgebb bench` can measure on, named by a string or a TOML table.

| target                          | measures on                                                                  |
| ------------------------------- | ---------------------------------------------------------------------------- |
| `cpu` / `cpu:N`                 | this machine's CPU runtimes of the sweep (`--runtimes`) at N threads          |
| `gpu`                           | this machine's GPU runtimes (LiteRT's GPU accelerator)                        |
| `RUNTIME[:N]`                   | one registered runtime (`litert-gpu`, `onnxruntime:4`)                        |
| `ssh://user@host[:port][?...]`  | a device over SSH (`edgebb bench --remote`); `?python=PATH&threads=N&runtimes=a+b` |

A TOML table takes `ssh`, `python`, `threads`, `runtimes`, `ssh_options` and an optional `name` (its label).
A target's fingerprint is the environment of the machine that measures (CPU, flags, cores, OS, runtime versions),
asked of the device itself for a remote one, so a measurement is reused only where it would come out the same.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from ..core.checks import parse_ints, parse_list
from ..core.errors import InputError

# Environment fields a measurement depends on (not the temperature or load of the moment).
FINGERPRINT_KEYS = ("cpu_model", "cpu_flags", "cores", "machine", "board", "os", "emulated", "emulation", "versions")
_TABLE_KEYS = ("name", "ssh", "python", "threads", "runtimes", "ssh_options")


@dataclass(frozen=True)
class TargetSpec:
    """One target: its label, the runtimes measured there, the thread count, and for a device over SSH where it
    is and how to reach it."""

    label: str
    runtimes: tuple[str, ...]
    threads: int = 1
    remote: str | None = None  # user@host[:port], as edgebb bench --remote takes it
    python: str = "python3"
    ssh_options: tuple[str, ...] = field(default_factory=tuple)

    @property
    def local(self) -> bool:
        return self.remote is None

    @property
    def device(self) -> str:
        """The machine a measurement occupies: one measurement at a time per device."""
        return "local" if self.local else f"ssh://{self.remote}"

    @property
    def resource(self) -> str | None:
        """The Ray custom resource that leases this device (None for this machine): device:NAME, NAME being the
        [[target]] name, else the device's host[:port]."""
        if self.local:
            return None
        name = self.label if not self.label.startswith("ssh://") else self.remote.rpartition("@")[2]
        return f"device:{name}"

    def to_dict(self) -> dict:
        return {"label": self.label, "runtimes": list(self.runtimes), "threads": self.threads,
                "remote": self.remote, "python": self.python, "ssh_options": list(self.ssh_options)}

    @classmethod
    def from_dict(cls, data: dict) -> TargetSpec:
        return cls(label=data["label"], runtimes=tuple(data["runtimes"]), threads=int(data.get("threads") or 1),
                   remote=data.get("remote"), python=data.get("python") or "python3",
                   ssh_options=tuple(data.get("ssh_options") or ()))


def _threads(text, where: str) -> int:
    return parse_ints(str(text), f"threads of target {where}", maximum=256)[0] if text not in (None, "") else 1


def _runtimes_of(kind: str, runtimes: tuple[str, ...], where: str) -> tuple[str, ...]:
    """The runtimes with registered `target` == kind: those of the sweep's --runtimes if any, else all of them
    that load an artifact."""
    from ..core.formats import FORMATS
    from ..runtimes import RUNTIMES

    chosen = [r for r in runtimes if RUNTIMES[r].target == kind]
    if not chosen and kind != "cpu":
        chosen = [n for n, r in RUNTIMES.items() if r.target == kind and FORMATS[r.format].artifact
                  and r.fallback is None]
    if not chosen:
        raise InputError(f"target {where}: none of the runtimes {', '.join(runtimes)} computes on the {kind}")
    return tuple(chosen)


def parse_target(item, runtimes: tuple[str, ...]) -> TargetSpec:
    """A TargetSpec from a target string or TOML table; InputError naming what is wrong."""
    from ..runtimes import RUNTIMES

    if isinstance(item, dict):
        return _from_table(item, runtimes)
    text = str(item).strip()
    if text.startswith("ssh://") or "@" in text:
        return _from_ssh(text, runtimes)
    name, _, threads = text.partition(":")
    if name in ("cpu", "gpu"):
        chosen = _runtimes_of(name, runtimes, text)
        n = _threads(threads, text)
        return TargetSpec(label=f"{name}:{n}" if name == "cpu" else text, runtimes=chosen, threads=n)
    if name in RUNTIMES:
        spec = TargetSpec(label=text, runtimes=(name,), threads=_threads(threads, text))
        _check_artifact_runtimes(spec.runtimes, text)
        return spec
    close = ["cpu:N", "gpu", *RUNTIMES, "ssh://user@host"]
    raise InputError(f"unknown target {text!r}; expected one of: {', '.join(close)}")


def not_swept(target: str, swept: list[str]) -> InputError:
    """The error for a `target` a sweep did not measure: a target as sweep reads one is named as not measured (and
    how to measure it), anything else as unknown, with the close matches among `swept`."""
    from ..core.errors import unknown_name
    from ..runtimes import RUNTIMES

    try:
        parse_target(target, tuple(RUNTIMES))
    except InputError:
        return unknown_name("target", target, swept)
    return InputError(f"the sweep measured nothing on {target} (it measured on {', '.join(swept)}); sweep it with "
                      f"--targets {target} to compare")


def _check_artifact_runtimes(names, where: str) -> None:
    from ..core.formats import FORMATS
    from ..runtimes import RUNTIMES

    for name in names:
        if not FORMATS[RUNTIMES[name].format].artifact:
            raise InputError(f"target {where}: runtime {name} runs the float model, not an artifact")


def _from_ssh(text: str, runtimes: tuple[str, ...]) -> TargetSpec:
    from ..benchmark.remote import parse_destination
    from ..runtimes import RUNTIMES

    url = text if text.startswith("ssh://") else f"ssh://{text}"
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    for key in query:
        if key not in ("python", "threads", "runtimes"):
            raise InputError(f"target {text}: unknown option {key!r} (python, threads, runtimes)")
    destination, host, port = parse_destination(parts.netloc)
    remote = f"{destination}:{port}" if port else destination
    chosen = tuple(parse_list(query["runtimes"].replace("+", ","), RUNTIMES, "runtime")) \
        if query.get("runtimes") else tuple(r for r in runtimes if _remote_ok(r))
    if not chosen:
        raise InputError(f"target {text}: no runtime to measure with there")
    _check_artifact_runtimes(chosen, text)
    label = f"ssh://{remote}" + (f"?threads={query['threads']}" if query.get("threads") else "")
    return TargetSpec(label=label, runtimes=chosen, threads=_threads(query.get("threads"), text), remote=remote,
                      python=query.get("python") or "python3")


def _remote_ok(name: str) -> bool:
    from ..core.formats import FORMATS
    from ..runtimes import RUNTIMES

    return FORMATS[RUNTIMES[name].format].artifact


def _from_table(table: dict, runtimes: tuple[str, ...]) -> TargetSpec:
    for key in table:
        if key not in _TABLE_KEYS:
            from ..core.errors import unknown_name

            raise unknown_name("target setting", key, list(_TABLE_KEYS))
    if "ssh" not in table:
        if "name" not in table:
            raise InputError("a [[target]] table needs ssh = \"user@host\" (or use a target string)")
        spec = parse_target(table["name"], tuple(table.get("runtimes") or runtimes))
        return TargetSpec(spec.label, spec.runtimes, int(table.get("threads") or spec.threads))
    query = []
    if table.get("threads") is not None:
        query.append(f"threads={table['threads']}")
    if table.get("runtimes"):
        query.append("runtimes=" + "+".join(_as_list(table["runtimes"])))
    base = str(table["ssh"]).removeprefix("ssh://")
    spec = _from_ssh(f"ssh://{base}" + ("?" + "&".join(query) if query else ""), runtimes)
    options = tuple(str(o) for o in _as_list(table.get("ssh_options") or []))
    for option in options:
        if "=" not in option or option.startswith("="):
            raise InputError(f"target {spec.label}: ssh_options must be Key=value; received {option!r}")
    return TargetSpec(label=str(table.get("name") or spec.label), runtimes=spec.runtimes, threads=spec.threads,
                      remote=spec.remote, python=str(table.get("python") or "python3"), ssh_options=options)


def _as_list(value) -> list:
    return value.split(",") if isinstance(value, str) else list(value)


def parse_targets(items, runtimes: tuple[str, ...]) -> list[TargetSpec]:
    """Every target, checked; InputError for an unknown one or two with the same label."""
    specs = [parse_target(item, runtimes) for item in items]
    labels = [s.label for s in specs]
    for label in labels:
        if labels.count(label) > 1:
            raise InputError(f"target {label} is given twice")
    return specs


# ----------------------------------------------------------------------------------------------- fingerprints


def check_local(spec: TargetSpec) -> None:
    """InputError naming the runtime of a local target that cannot run here (before any work)."""
    from ..runtimes import available

    for name in spec.runtimes:
        ok, reason = available(name)
        if not ok:
            raise InputError(f"target {spec.label}: runtime {name} cannot run here: {reason}")


def fingerprint(env: dict, spec: TargetSpec, runtime: str) -> dict:
    """What a measurement on `spec` with `runtime` depends on: the measuring machine's hardware and software (from
    its environment), the runtime and the thread count; and the target's name and address, so two devices of the
    same kind are measured each (the user asked for both)."""
    return {**{k: env.get(k) for k in FINGERPRINT_KEYS if env.get(k) is not None}, "runtime": runtime,
            "threads": spec.threads, "target": spec.label, "remote": spec.remote}


def environment_of(spec: TargetSpec) -> dict:
    """The environment of the machine that measures for `spec`: this one, or the device, asked over SSH (which
    is also the check that it can be reached: a RemoteError, one line, exit 2, before any work)."""
    from ..benchmark.environment import environment

    if spec.local:
        return environment()
    return remote_environment(spec)


_ENV_SCRIPT = ("import json; from edgebb.benchmark.environment import environment; "
               "print('EDGEBB_ENV ' + json.dumps(environment()))")


def remote_environment(spec: TargetSpec, timeout: float = 60.0) -> dict:
    """The device's `environment()`, run by its own Python over SSH."""
    from ..benchmark.remote import DEFAULT_SSH_OPTIONS, Remote, RemoteError, _ssh_failure, parse_destination

    destination, host, port = parse_destination(spec.remote)
    remote = Remote(destination, host, port, spec.python, tuple(spec.ssh_options) + DEFAULT_SSH_OPTIONS)
    command = f"{remote.python_word()} -c {shlex.quote(_ENV_SCRIPT)}"
    try:
        done = subprocess.run(remote.ssh(command), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise RemoteError("unreachable", "ssh is not installed here (Debian: apt-get install openssh-client)") \
            from None
    except subprocess.TimeoutExpired:
        raise RemoteError("unreachable", f"target {spec.label}: {host} did not answer within {timeout:g} s") \
            from None
    if done.returncode == 255:
        error = _ssh_failure(remote, done.stderr)
        raise RemoteError(error.kind, f"target {spec.label}: {error}")
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("EDGEBB_ENV ")), None)
    if done.returncode != 0 or line is None:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RemoteError("not-installed", f"target {spec.label}: {spec.python} on {host} cannot run edgebb "
                                           f"(pip install 'edgebb[device]' there): {last}")
    return json.loads(line[len("EDGEBB_ENV "):])
