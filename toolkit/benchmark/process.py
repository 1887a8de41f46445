"""One measurement in a process of its own (edgebb.benchmark.worker): its output read back, and a crash, a hang
(--timeout), running out of memory (--memory-limit, on resident memory) or a Ctrl-C turned into a failed row or
the interrupt, with no process left behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def status_mb(pid: int | str, field: str) -> float | None:
    """A memory figure of /proc/PID/status (VmRSS: resident now, VmHWM: its high-water mark) in MB; None where it
    cannot be read (no /proc, a process gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) * 1024 / 1e6 for line in f if line.startswith(f"{field}:")), None)
    except OSError:
        return None


def _over(limit: float, peak: float | None = None) -> str:
    return (f"out of memory: its resident memory passed --memory-limit {limit:g} MB" +
            (f" (peak {peak:.1f} MB)" if peak else ""))


def _kill_group(pid: int) -> None:
    """SIGKILL a worker's process group, if it is still there: a Ctrl-C in `communicate` waits a moment for the
    child and reaps it if it ended, and ProcessLookupError would then replace the KeyboardInterrupt (a sweep
    stored the cells in flight as failed, "ProcessLookupError: [Errno 3] No such process")."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def run_worker(spec: dict, timeout: float, folder: str) -> dict:
    """Run one measurement in a new process; a crash, hang or kill becomes a failed result with its cause."""
    spec_path = os.path.join(folder, f"spec_{time.monotonic_ns()}.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    proc = subprocess.Popen([sys.executable, "-m", "edgebb.benchmark.worker", spec_path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    limit = spec.get("memory_limit_mb")
    deadline = time.monotonic() + timeout
    try:
        while True:  # with --memory-limit, the worker's resident memory is read every 50 ms while it runs
            left = deadline - time.monotonic()
            try:
                out, err = proc.communicate(timeout=max(0.0, min(left, 0.05) if limit else left))
                break
            except subprocess.TimeoutExpired:  # retrying communicate loses no output
                over = limit and (status_mb(proc.pid, "VmRSS") or 0) > limit
                if over or time.monotonic() >= deadline:
                    _kill_group(proc.pid)
                    proc.communicate()
                    return {"status": "failed", "error": _over(limit) if over else
                            f"timed out after {timeout:g} s (--timeout)"}
    except BaseException:  # Ctrl-C or SIGTERM here: take the worker down with us
        _kill_group(proc.pid)
        raise
    for line in out.splitlines():
        if line.startswith("EDGEBB_RESULT "):
            result = json.loads(line[len("EDGEBB_RESULT "):])
            if limit and (result.get("peak_rss_mb") or 0) > limit:  # a peak between two readings
                return {"status": "failed", "error": _over(limit, result["peak_rss_mb"])}
            return result
    if proc.returncode < 0:
        name = _signal_name(proc.returncode)
        cause = "killed (SIGKILL: out of memory?)" if name == "SIGKILL" else f"crashed ({name})"
        return {"status": "failed", "error": cause}
    last = [ln for ln in err.strip().splitlines() if ln.strip()]
    if any("MemoryError" in ln or "bad_alloc" in ln for ln in last[-5:]):
        return {"status": "failed", "error": "out of memory"}
    return {"status": "failed", "error": f"exited {proc.returncode}: {last[-1][:200] if last else 'no output'}"}
