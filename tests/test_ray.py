"""edgebb sweep --executor ray on a real Ray cluster on loopback: a head and a second worker node on this machine
(started with the `ray` CLI, as a user would), the head declaring a device resource backed by the loopback sshd of
tests/test_remote.py. A tiny sweep runs across both nodes; the worker node is killed (raylet and its workers,
SIGKILL) while it runs a stage; the store must hold every cell once, say which were retried, and hold the same
results as the local executor's on the same grid (latencies aside). The cluster is torn down whatever happens.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import pytest
from test_remote import SFTP_SERVER, SSHD, _free_port, sshd  # noqa: F401  (the loopback sshd fixture)
from test_sweep import edgebb

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'edgebb[ray]'; make test installs it)")
psutil = pytest.importorskip("psutil")

RAY = os.path.join(os.path.dirname(sys.executable), "ray")
GRID = ["squeezenet_1_1", "mobilenet_v2@0.35", "--sizes", "32", "--recipes", "fp32,int8", "--runtimes", "litert",
        "--runs", "3", "--min-seconds", "0", "--warmup", "1", "--calib-samples", "8", "--eval-samples", "8"]
# What a cell's result is, whichever executor ran it; latencies, memory and timings are measurements, not results.
SAME = ("backbone", "width", "size", "recipe", "runtime", "format", "target", "status", "accuracy", "agreement",
        "accuracy_source", "params", "macs", "size_bytes", "sha256")


def _ours(marker: str) -> list:
    """Every process started for this cluster (they all inherit EDGEBB_RAY_TEST=marker)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("EDGEBB_RAY_TEST") == marker:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


def _kill(procs) -> None:
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=15)


@contextmanager
def cluster(device: str | None):
    """A head (1 CPU, the device resource) and a worker node (1 CPU) on loopback, with token authentication as
    Ray sets up by default; yields {"address", "env", "worker_port"}."""
    marker = secrets.token_hex(8)
    temp = tempfile.mkdtemp(prefix="edgebb-ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    env = {**os.environ, "EDGEBB_RAY_TEST": marker, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_niceness": "0"}
    port, worker_port = _free_port(), _free_port()
    common = ["--num-cpus", "1", "--object-store-memory", str(200 << 20), "--disable-usage-stats"]
    try:
        head = [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--temp-dir", temp,
                "--include-dashboard", "false", *common]
        if device:
            head += ["--resources", json.dumps({device: 1})]
        for command in (head, [RAY, "start", "--address", f"127.0.0.1:{port}", "--node-manager-port",
                               str(worker_port), *common]):
            started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
            assert started.returncode == 0, started.stderr[-2000:]
        yield {"address": f"127.0.0.1:{port}", "env": env, "worker_port": worker_port}
    finally:
        _kill(_ours(marker))
        shutil.rmtree(temp, ignore_errors=True)


def _worker_raylet(port: int):
    for proc in psutil.process_iter(["cmdline"]):
        if any(a == f"--node_manager_port={port}" for a in proc.info["cmdline"] or []) and \
                "raylet" in (proc.info["cmdline"] or [""])[0]:
            return proc
    return None


def _kill_node_when_busy(port: int, driver: subprocess.Popen, deadline: float) -> str | None:
    """Wait until the worker node runs a stage (a worker titled ray::_run), then SIGKILL the node: its raylet and
    every process under it. Returns what was killed, or None if it never ran one before the driver ended."""
    while time.monotonic() < deadline and driver.poll() is None:
        raylet = _worker_raylet(port)
        busy = [p for p in (raylet.children(recursive=True) if raylet else [])
                if any("ray::_run" in a for a in _cmdline(p))]
        if busy:
            what = " ".join(_cmdline(busy[0])) or "a ray::_run worker"
            _kill([*raylet.children(recursive=True), raylet])
            return what
        time.sleep(0.2)
    return None


def _cmdline(proc) -> list[str]:
    try:
        return proc.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return []


def _config(path, server) -> str:
    options = [o for o in server["options"] if o != "--ssh-option"]
    path.write_text(f'targets = ["cpu:1"]\n[[target]]\nname = "loopback"\nssh = "{server["destination"]}"\n'
                    f'python = "{sys.executable}"\nthreads = 1\nruntimes = ["litert"]\n'
                    f"ssh_options = {json.dumps(options)}\n")
    return str(path)


def _cells(out) -> list[dict]:
    from edgebb.selection.store import Store

    with Store.open(str(out)) as store:
        return store.cells()


def _result(row: dict) -> tuple:
    return tuple(row.get(k) for k in SAME)


@pytest.mark.skipif(not (SSHD and shutil.which("ssh") and shutil.which("scp") and SFTP_SERVER),
                    reason="needs OpenSSH's sshd, sftp-server, ssh and scp (.ci/run installs them)")
def test_sweep_across_two_nodes_survives_a_node_killed(tmp_path, request):
    server = request.getfixturevalue("sshd")
    config = _config(tmp_path / "grid.toml", server)
    with cluster("device:loopback") as c:
        plan = edgebb("sweep", *GRID, "--config", config, "--executor", "ray", "--ray-address", c["address"],
                      "-o", tmp_path / "ray", "--plan", env=c["env"], timeout=300)
        assert plan.returncode == 0, plan.stderr
        assert "device:loopback" in plan.stdout and "nothing was run or written" in plan.stdout
        assert not (tmp_path / "ray").exists()

        command = [sys.executable, "-m", "edgebb", "sweep", *GRID, "--config", config, "--executor", "ray",
                   "--ray-address", c["address"], "-o", str(tmp_path / "ray"), "--json", str(tmp_path / "ray.json")]
        driver = subprocess.Popen(command, env=c["env"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            killed = _kill_node_when_busy(c["worker_port"], driver, time.monotonic() + 600)
            out, err = driver.communicate(timeout=900)
        finally:
            if driver.poll() is None:
                driver.kill()
    assert driver.returncode == 0, err[-3000:]
    rows = _cells(tmp_path / "ray")
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert killed, "the worker node never ran a stage, so nothing was killed mid-task"
    assert len(rows) == 8 and len({r["key"] for r in rows}) == 8  # 2 models x 2 recipes x 2 targets, each once
    retried = [r for r in rows if r["provenance"]["executor"]["retried"]]
    assert retried, "a stage ran on the killed node, so some cell must say it was retried"
    assert "retried:" in out
    # what a conversion says in its Ray worker reaches the driver's progress lines, as with the local executor
    assert "tflite int8: verifying against the float model" in out + err
    assert {r["target"] for r in rows} == {"cpu:1", "loopback"}
    assert all(r["provenance"]["executor"]["name"] == "ray" for r in rows)

    local = edgebb("sweep", *GRID, "--config", config, "-o", tmp_path / "local")
    assert local.returncode == 0, local.stderr
    by_key = {r["key"]: _result(r) for r in _cells(tmp_path / "local")}
    assert by_key == {r["key"]: _result(r) for r in rows}  # same cells, same keys, same results


def test_ray_input_errors_before_any_work(tmp_path):
    unreachable = f"127.0.0.1:{_free_port()}"
    result = edgebb("sweep", *GRID, "--targets", "cpu:1", "--executor", "ray", "--ray-address", unreachable,
                    "-o", tmp_path / "o", timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"no Ray head answers at {unreachable}" in result.stderr
    result = edgebb("sweep", *GRID, "--targets", "cpu:1", "--ray-address", "h:1", "-o", tmp_path / "o", timeout=120)
    assert result.returncode == 2 and "needs --executor ray" in result.stderr
    result = edgebb("sweep", *GRID, "--targets", "cpu:1", "--executor", "ray", "--ray-address", "nohost",
                    "-o", tmp_path / "o", timeout=120)
    assert result.returncode == 2 and "HOST:PORT" in result.stderr
    assert not (tmp_path / "o").exists()


def _exactly(args, env: dict) -> subprocess.CompletedProcess:
    """edgebb with exactly `env` (not this process's environment added to it)."""
    return subprocess.run([sys.executable, "-m", "edgebb", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_a_driver_sends_the_token_it_has(tmp_path):
    """A cluster with token authentication (Ray starts one so by default) and a driver whose RAY_AUTH_MODE is not
    set: Ray would connect without the token and fail after 20 s of "InvalidAuthToken" naming the head's own
    address. With a token at hand (here RAY_AUTH_TOKEN_PATH; also RAY_AUTH_TOKEN or ~/.ray/auth_token) edgebb sends
    it; with none, one line says what is missing."""
    with cluster(None) as c:
        token = tmp_path / "auth_token"
        token.write_text(c["env"]["RAY_AUTH_TOKEN"])
        env = {k: v for k, v in c["env"].items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
        args = ["sweep", *GRID, "--targets", "cpu:1", "--executor", "ray", "--ray-address", c["address"], "-o",
                tmp_path / "o", "--plan"]
        plan = _exactly(args, {**env, "RAY_AUTH_TOKEN_PATH": str(token)})
        assert plan.returncode == 0, plan.stderr[-2000:]
        assert "nothing was run or written" in plan.stdout
        refused = _exactly(args, {**env, "RAY_AUTH_TOKEN_PATH": str(tmp_path / "none")})
    assert refused.returncode == 2, refused.stderr[-2000:]
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("edgebb: error: Failed to connect to Ray cluster") and "RAY_AUTH_MODE=token" in last, last
    assert "InvalidAuthToken" not in refused.stderr, refused.stderr[-2000:]  # Ray's 20 s of retries, one a line
    assert not (tmp_path / "o").exists()


def test_a_device_no_node_declares_fails_before_any_stage(tmp_path, request):
    """The cluster has no device:loopback: one line naming the resource and how to declare it; no cell runs."""
    if not (SSHD and shutil.which("ssh") and SFTP_SERVER):
        pytest.skip("needs OpenSSH (.ci/run installs it)")
    server = request.getfixturevalue("sshd")
    config = _config(tmp_path / "grid.toml", server)
    with cluster(None) as c:
        result = edgebb("sweep", *GRID, "--config", config, "--executor", "ray", "--ray-address", c["address"],
                        "-o", tmp_path / "o", env=c["env"], timeout=300)
    assert result.returncode == 2, result.stderr
    assert "no Ray node declares device:loopback" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_a_stage_that_reports_progress_keeps_its_cpus(tmp_path):
    """A measurement asks for all of the machine's CPUs so that nothing runs beside it. Its progress lines went to
    the driver's queue through Queue.put_nowait, which waits in ray.get; a task waiting in ray.get lends its CPUs
    back, and Ray started the next stage beside it (a new user's sweep measured every cell at 45-63% busy). Here
    a task holding both CPUs reports 20 lines while a 1-CPU task waits: it must not start before the first ends."""
    from ray.util.queue import Queue

    from edgebb.selection.executors.ray import _run

    def reporting(task, say):
        started = time.time()
        for i in range(20):
            say(f"row {i}")
            time.sleep(0.05)
        return {"started": started, "ended": time.time()}

    def waiting(task, say):
        return {"started": time.time()}

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"RAY_USAGE_STATS_ENABLED": "0"}})
    try:
        queue = Queue(maxsize=100, actor_options={"num_cpus": 0})
        stage = ray.remote(_run)
        first = stage.options(num_cpus=2).remote(reporting, {}, "first", str(tmp_path), False, queue)
        ray.wait([queue.actor.qsize.remote()])  # the queue actor is up; `first` holds both CPUs once it starts
        time.sleep(0.3)
        second = stage.options(num_cpus=1).remote(waiting, {}, "second", str(tmp_path), False, queue)
        ran, after = ray.get([first, second], timeout=120)
        said = [queue.get(timeout=10)[1] for _ in range(20)]
    finally:
        ray.shutdown()
    assert sorted(said) == sorted(f"row {i}" for i in range(20))  # every line (not waited for: order not promised)
    assert after["started"] >= ran["ended"], (ran, after)
