"""`edgebb bench --remote user@host`: benchmark on a device over SSH and bring the results back.

The artifacts (and the manifests that describe them) are resolved here, on the workstation: backbone names are
converted here, where TensorFlow is, and so is the ResNet-50 baseline. They are copied to a fresh folder on the
device with scp, `PYTHON -m edgebb bench` runs there with the device's own install (`pip install 'edgebb[device]'`),
and its JSON is copied back. Before anything is converted for it or sent, the device says which runtimes it can
run (`edgebb runtimes` there): a format none of them reads is neither converted for the baseline nor copied. The
report keeps the device's environment (board, CPU, governor, temperature, throttling), adds `env.remote`, and marks
every row `target: "remote:HOST"`. How the device is reached, and each way that fails: edgebb.benchmark.ssh.
"""

from __future__ import annotations

import json
import os
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
from .ssh import (  # noqa: F401  (DEFAULT_SSH_OPTIONS, parse_destination: what callers import from here)
    DEFAULT_SSH_OPTIONS,
    Remote,
    RemoteError,
    _cleanup,
    _copy,
    _ssh,
    _ssh_failure,
    parse_destination,
)
from .targets import Target, collect_targets

MARK = "EDGEBB_REMOTE"
# The remote probe's exit codes (ssh itself exits 255 for its own failures).
_NO_PYTHON, _NO_EDGEBB = 3, 4
# Input samples bench feeds from --data (harness.inputs_for): only those images are copied to the device.
_DATA_SAMPLES = INPUT_SAMPLES


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
    if opts.data is not None and not os.path.isdir(opts.data):
        raise InputError(f"data folder not found: {opts.data}")
    run = RemoteRun(destination=destination, host=host, python=python)

    def ask(formats: list[str]) -> list[str]:  # of `formats`, those the device can run
        say.say(f"remote: connecting to {destination}{f' port {port}' if port else ''}")
        wanted = {f: device_runtimes(opts, f) for f in formats}
        run.edgebb_version, status = _probe(target, sorted({r for names in wanted.values() for r in names}))
        return _runnable(formats, wanted, status, host, run.notes)

    if opts.runtimes or opts.best:  # the formats are known before the items: backbone names convert to what runs
        formats = ask(opts.formats)
        targets = collect_targets(list(items), recipes=list(opts.recipes), formats=formats, size=opts.size,
                                  progress=progress)
    else:  # each artifact on its own format's runtime: the items say which formats
        targets = collect_targets(list(items), recipes=list(opts.recipes), formats=opts.formats, size=opts.size,
                                  progress=progress)
        formats = ask(device_formats(opts, targets))
    if opts.baseline != "none":
        # The device has no TensorFlow to convert the baseline with: convert it here, at the recipe and input size of
        # each model it is compared with (as a local bench does), and send it along.
        targets, notes = add_baselines(targets, opts.baseline, formats, progress)
        run.notes.extend(notes)
    bundles, remote_items = _bundles(targets, formats)
    if not remote_items:
        raise InputError(f"nothing to send to {host}: no {' or '.join(formats)} artifact among the inputs")
    data_files = _data_sample(opts.data) if opts.data else {}
    copies = [(f"a{i}", files) for i, files in enumerate(bundles)] + [(f"data/{d}", f) for d, f in data_files.items()]
    folder = run.folder = _make_folder(target, [sub for sub, _ in copies])
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


def _probe(remote: Remote, runtimes: list[str]) -> tuple[str, dict[str, str] | None]:
    """Check the device's Python and edgebb. Returns its edgebb version and, for each of `runtimes`, "" when it can
    run there or why not (None when its edgebb cannot say: a version before `edgebb runtimes`)."""
    py = remote.python_word()
    script = (f'py={py}; '
              f'command -v "$py" >/dev/null 2>&1 || exit {_NO_PYTHON}; '
              f'out=$("$py" -m edgebb --version 2>&1) || {{ printf "%s\\n" "$out" >&2; exit {_NO_EDGEBB}; }}; '
              f'echo "{MARK} $out"; "$py" -m edgebb runtimes --json {" ".join(map(shlex.quote, runtimes))} '
              '2>/dev/null || true')
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
    before, mark, after = result.stdout.partition(MARK + " ")
    if not mark:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RemoteError("bench-failed", f"cannot run edgebb on {remote.host} (exit {result.returncode}): {last}")
    version_line, _, rest = after.partition("\n")
    try:
        status = {r["runtime"]: "" if r["available"] else r["reason"] for r in json.loads(rest)}
    except (ValueError, TypeError, KeyError):
        status = None
    return version_line.rpartition(" ")[2], status


def device_runtimes(opts: BenchOptions, fmt: str) -> list[str]:
    """The runtimes the device's bench could run artifacts of format `fmt` on: --runtime's; with --best alone, each
    CPU runtime; otherwise the format's own (litert for .tflite, onnxruntime for .onnx); each with the fallback
    bench takes where it cannot run (tflite-runtime for litert on 32-bit Raspberry Pi OS: harness._tflite_fallback)."""
    from ..core.formats import FORMATS
    from ..runtimes import RUNTIMES

    if opts.runtimes:
        names = [r for r in opts.runtimes if RUNTIMES[r].format == fmt]
    elif opts.best:
        names = [n for n, r in RUNTIMES.items() if r.format == fmt and r.target == "cpu"]
    else:
        names = [FORMATS[fmt].default_runtime]
    return list(dict.fromkeys(names + [RUNTIMES[n].fallback for n in names if RUNTIMES[n].fallback]))


def _runnable(formats: list[str], wanted: dict[str, list[str]], status: dict[str, str] | None, host: str,
              notes: list[str]) -> list[str]:
    """Of `formats`, those a runtime on the device reads (all of them when the device could not say); a note for
    each left out. RemoteError when none is left: nothing would be measured there."""
    if status is None:
        return formats
    why = {fmt: "; ".join(f"{r}: {status.get(r) or 'unknown to its edgebb'}" for r in wanted[fmt])
           for fmt in formats if not any(status.get(r) == "" for r in wanted[fmt])}
    if len(why) == len(formats):
        raise RemoteError("no-runtime", f"no runtime on {host} can run what was asked for ({'; '.join(why.values())})")
    notes += [f"no runtime on {host} runs .{fmt} ({text}): those artifacts were neither sent nor the baseline "
              "converted to it" for fmt, text in why.items()]
    return [fmt for fmt in formats if fmt not in why]


def _make_folder(remote: Remote, subfolders: list[str]) -> str:
    """A fresh folder on the device with `subfolders` (relative paths) in it."""
    mkdirs = " ".join('"$dir"/' + shlex.quote(sub) for sub in subfolders)
    # a folder whose subfolders could not be made is removed here: the caller cleans up only a folder it was given
    script = (f'dir=$(mktemp -d "${{TMPDIR:-/tmp}}/edgebb-remote.XXXXXX") && '
              f'{{ mkdir -p {mkdirs} || {{ rm -rf "$dir"; exit 1; }}; }} && echo "{MARK} $dir"')
    result = _ssh(remote, "sh -c " + shlex.quote(script), timeout=120)
    if result.returncode == 255:
        raise _ssh_failure(remote, result.stderr)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith(MARK + " ")), None)
    if result.returncode != 0 or line is None:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RemoteError("bench-failed", f"cannot prepare a folder on {remote.host} (exit {result.returncode}): "
                                          f"{last}")
    return line.split(" ", 1)[1]


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
