"""edgebb bench --remote against a real OpenSSH server on loopback.

The "device" is this machine: the test starts its own sshd on 127.0.0.1 (a free port, its own host key, one
authorized key, no PAM, no passwords) and the remote Python is this virtual environment's, so `python -m edgebb`
works there; a Python without edgebb, a refused port and an unknown key give the one-line errors a user sees.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from edgebb.benchmark.remote import Remote, RemoteError, _ssh_failure, parse_destination
from edgebb.core.errors import InputError

SIZE = 32
FAST = ["--runs", "3", "--min-seconds", "0", "--warmup", "1", "--baseline", "none"]
SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
SFTP_SERVER = next((p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server",
                                "/usr/libexec/sftp-server") if os.path.exists(p)), None)

needs_sshd = pytest.mark.skipif(
    not (SSHD and shutil.which("ssh") and shutil.which("scp") and shutil.which("ssh-keygen") and SFTP_SERVER),
    reason="needs OpenSSH's sshd, sftp-server, ssh, scp and ssh-keygen (Debian: apt-get install openssh-server "
           "openssh-client; .ci/run installs them)")


def edgebb(*args, env=None):
    return subprocess.run([sys.executable, "-m", "edgebb", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env} if env else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _start_sshd(home, port: int, *, sftp: bool = True, name: str = "sshd"):
    """A real sshd on 127.0.0.1:`port` accepting the client key in `home` (with its SFTP subsystem unless `sftp` is
    False, as on a minimal device whose sshd_config has no Subsystem line); returns the process, listening."""
    config = home / f"{name}_config"
    config.write_text(f"""
ListenAddress 127.0.0.1:{port}
HostKey {home / "host_key"}
PidFile {home / f"{name}.pid"}
AuthorizedKeysFile {home / "authorized_keys"}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
{f"Subsystem sftp {SFTP_SERVER}" if sftp else ""}
LogLevel VERBOSE
""")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation folder, which it requires
    log = home / f"{name}.log"
    proc = subprocess.Popen([SSHD, "-D", "-f", str(config), "-E", str(log)])
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text() if log.exists() else ""
                proc.kill()
                pytest.fail(f"sshd did not start: {text[-500:]}")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A real sshd on 127.0.0.1:PORT accepting one key for the current user; yields the client's ssh options."""
    if os.geteuid() != 0:
        pytest.skip("the loopback sshd runs as root (sshd needs root to switch to the logged-in user)")
    home = tmp_path_factory.mktemp("ssh")
    _keygen(home / "host_key")
    _keygen(home / "client_key")
    _keygen(home / "stranger_key")  # a key the server does not know
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    port = _free_port()
    proc = _start_sshd(home, port)
    options = ["--ssh-option", f"IdentityFile={home / 'client_key'}", "--ssh-option", "IdentitiesOnly=yes",
               "--ssh-option", f"UserKnownHostsFile={home / 'known_hosts'}"]
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    yield {"destination": f"{user}@127.0.0.1:{port}", "options": options, "home": home, "port": port, "user": user}
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def artifacts(tiny_tflite):
    return tiny_tflite  # conftest: mobilenet_v2 0.35 at 32x32, fp32 and int8 .tflite with manifest.json


@pytest.fixture(scope="module")
def tflite_and_onnx(tmp_path_factory):
    """mobilenet_v2 0.35 at 32x32 as fp32 and int8 .tflite and .onnx, and int8-qat ones listed as a conversion of
    a quantization-aware model lists them: with MACs 0 (its profile counts the wrapped layers as nothing). The
    int8-qat files are the int8 ones copied: what is measured here is how bench reads the manifest."""
    from edgebb.conversion import convert

    out = tmp_path_factory.mktemp("tflite_and_onnx")
    convert("mobilenet_v2", str(out), None, recipes="fp32,int8", formats="tflite,onnx", width=0.35, size=SIZE,
            calib_samples=8, eval_samples=8)
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in [e for e in manifest["artifacts"] if e["recipe"] == "int8"]:
        path = entry["path"].replace("_int8.", "_int8-qat.")
        shutil.copy(out / entry["path"], out / path)
        manifest["artifacts"].append({**entry, "path": path, "recipe": "int8-qat", "macs": 0})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return out


@needs_sshd
def test_remote_runs_every_artifact_as_a_local_bench_does(sshd, tflite_and_onnx, tmp_path):
    """Without --runtime each artifact runs on its own format's runtime, on the device as here: the .onnx ones on
    onnxruntime too (they were left behind, without a word). An int8-qat row has its model's MACs and its fraction of
    the int8 peak, here and there."""
    manifest = str(tflite_and_onnx / "manifest.json")
    reports = {}
    for where, args in (("local", []), ("remote", ["--remote", sshd["destination"], "--remote-python", sys.executable,
                                                    *sshd["options"]])):
        result = edgebb("bench", manifest, *args, *FAST, "--json", str(tmp_path / f"{where}.json"))
        assert result.returncode == 0, result.stderr
        assert "vs none" not in result.stdout  # --baseline none: no ratio columns
        reports[where] = json.loads((tmp_path / f"{where}.json").read_text())
    local, remote = (sorted((r["artifact"], r["runtime"], r["status"]) for r in reports[w]["results"])
                     for w in ("local", "remote"))
    assert remote == local
    assert {(r["recipe"], r["runtime"], r["status"]) for r in reports["remote"]["results"]} == {
        (recipe, runtime, "ok") for recipe in ("fp32", "int8", "int8-qat") for runtime in ("litert", "onnxruntime")}
    assert reports["remote"]["env"]["remote"]["copied_files"] == 7  # 6 artifacts and the manifest
    for where, report in reports.items():
        rows, peak = report["results"], report["env"]["peak"]
        macs = next(r["macs"] for r in rows if r["recipe"] == "int8")
        for r in (r for r in rows if r["recipe"] == "int8-qat"):
            assert r["macs"] == macs > 0, (where, r)
            assert r["peak_fraction"] == pytest.approx(r["gmacs_per_s"] / peak["int8_gmacs"][str(r["threads"])],
                                                       rel=1e-3, abs=6e-5), (where, r)


@needs_sshd
def test_remote_bench_round_trip(sshd, artifacts, tmp_path):
    out = tmp_path / "remote.json"
    result = edgebb("bench", str(artifacts / "manifest.json"), "--remote", sshd["destination"], "--remote-python",
                    sys.executable, *sshd["options"], *FAST, "--json", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    env, rows = report["env"], report["results"]
    assert {r["recipe"] for r in rows} == {"fp32", "int8"}
    for r in rows:
        assert r["status"] == "ok", r
        assert r["target"] == "remote:127.0.0.1"
        assert r["path"] == str(artifacts / r["artifact"])  # the local artifact; the device's copy is remote_path
        assert r["remote_path"].endswith("/" + r["artifact"]) and r["remote_path"] != r["path"]
        assert r["latency_ms"]["p50"] > 0 and r["runs"] >= 3 and r["macs"] > 0  # the manifest went along
    # the device's own environment comes back, with how it was reached
    for key in ("cpu_model", "machine", "python", "versions", "temperature_before_c", "throttled_before", "emulated"):
        assert key in env, key
    remote = env["remote"]
    assert remote["host"] == "127.0.0.1" and remote["python"] == sys.executable
    assert remote["edgebb_version"] == "0.1.0" and remote["copied_files"] == 3  # 2 artifacts and the manifest
    assert not os.path.exists(remote["folder"])  # the device's working folder is removed afterwards
    assert "127.0.0.1: [1/2]" in result.stderr and "remote:" not in result.stdout.split("\n")[0]
    assert f"{sshd['destination'].rpartition(':')[0]}" in result.stdout  # the table says where it ran


@needs_sshd
def test_remote_data_sample_and_single_artifact(sshd, artifacts, tmp_path):
    """--data copies only the images bench feeds; a single artifact takes its manifest along."""
    from edgebb.data.synth import generate

    generate(str(tmp_path / "shapes"), classes=2, per_class=6, size=SIZE, seed=0)
    out = tmp_path / "r.json"
    result = edgebb("bench", str(artifacts / "mobilenet_v2_0.35_32_int8.tflite"), "--data", str(tmp_path / "shapes"),
                    "--remote", sshd["destination"], "--remote-python", sys.executable, *sshd["options"], *FAST,
                    "--json", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    (row,) = report["results"]
    assert row["status"] == "ok" and row["model"] == "mobilenet_v2@0.35" and row["macs"] > 0
    assert report["env"]["remote"]["copied_files"] == 2 + 8  # artifact, manifest and the 8 images bench reads


@needs_sshd
def test_remote_baseline_at_the_artifact_size_and_recipe(sshd, artifacts, tmp_path):
    """The device has no TensorFlow: ResNet-50 is converted here at the int8 artifact's own input size (32, not
    --size's 224) and recipe, sent along, and the device's table compares the two."""
    out = tmp_path / "r.json"
    fast = [a for a in FAST if a not in ("--baseline", "none")]
    result = edgebb("bench", str(artifacts / "mobilenet_v2_0.35_32_int8.tflite"), "--remote", sshd["destination"],
                    "--remote-python", sys.executable, *sshd["options"], *fast, "--json", str(out),
                    env={"XDG_CACHE_HOME": str(tmp_path / "c")})
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["results"]
    base = next(r for r in rows if r["baseline"])
    mine = next(r for r in rows if not r["baseline"])
    assert (base["model"], base["recipe"], base["input_size"], mine["input_size"]) == ("resnet50", "int8", 32, 32)
    assert base["target"] == mine["target"] == "remote:127.0.0.1"
    assert mine["speedup_vs_baseline"] == pytest.approx(base["latency_ms"]["p50"] / mine["latency_ms"]["p50"])


def python_without_onnxruntime(folder) -> str:
    """A Python for which `import onnxruntime` fails, as on a 32-bit Raspberry Pi OS (no wheel for it there): this
    test run's Python with a package of that name first on its path that refuses to import."""
    blocker = folder / "blocked" / "onnxruntime"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("no onnxruntime wheel for this platform")\n')
    python = folder / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={folder / "blocked"} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    return str(python)


def test_runtimes_says_what_runs_here_and_why_not(tmp_path):
    """`edgebb runtimes`: every runtime, what it reads, its package, and whether it runs here or why not."""
    every = json.loads(edgebb("runtimes", "--json").stdout)
    from edgebb.runtimes import RUNTIMES

    assert [r["runtime"] for r in every] == list(RUNTIMES)
    python = python_without_onnxruntime(tmp_path)
    done = subprocess.run([python, "-m", "edgebb", "runtimes", "litert", "onnxruntime"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()[2:]}
    assert lines["litert"].rstrip().endswith(" yes"), done.stdout
    assert "no: " in lines["onnxruntime"] and "no onnxruntime wheel for this platform" in lines["onnxruntime"]
    bad = edgebb("runtimes", "onnx-runtime")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert bad.stderr.startswith("edgebb: error: unknown runtime 'onnx-runtime'"), bad.stderr


@needs_sshd
def test_a_device_without_onnxruntime_is_sent_no_onnx(sshd, tflite_and_onnx, tmp_path):
    """The device says which runtimes it has before anything is converted for it or sent: .onnx artifacts it
    cannot run are not copied (nor the baseline converted to ONNX), and a note says so; asking only for a runtime
    it lacks is one line, exit 2, before any conversion."""
    python = python_without_onnxruntime(tmp_path)
    fast = [a for a in FAST if a not in ("--baseline", "none")] + ["--baseline", "squeezenet_1_1"]
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = edgebb("bench", str(tflite_and_onnx / "manifest.json"), "--remote", sshd["destination"],
                    "--remote-python", python, *sshd["options"], *fast, "--json", str(tmp_path / "r.json"), env=cache)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert {(r["runtime"], r["status"]) for r in report["results"]} == {("litert", "ok")}
    assert {r["model"] for r in report["results"] if r["baseline"]} == {"squeezenet_1_1"}
    assert report["env"]["remote"]["copied_files"] == 3 + 1 + 2 * 2  # 3 .tflite + manifest, 2 baselines + 2 manifests
    note = next(n for n in report["notes"] if n.startswith("no runtime on 127.0.0.1 runs .onnx"))
    assert "(onnxruntime: " in note and "no onnxruntime wheel" in note and "neither sent nor the baseline" in note
    converted = [p.name for p in (tmp_path / "cache").rglob("*") if p.suffix in (".onnx", ".tflite")]
    assert converted and not any(name.endswith(".onnx") for name in converted), converted

    # a backbone name too: it is converted only to what the device runs, so here to nothing
    only = edgebb("bench", "mobilenet_v2@0.35", "-s", str(SIZE), "--remote", sshd["destination"], "--remote-python",
                  python, *sshd["options"], *fast, "--runtime", "onnxruntime", env=cache)
    assert only.returncode == 2 and "Traceback" not in only.stderr
    assert only.stderr.strip().splitlines()[-1].startswith(
        "edgebb: error: no runtime on 127.0.0.1 can run what was asked for (onnxruntime: "), only.stderr
    assert "converting" not in only.stderr and not list((tmp_path / "cache").rglob("mobilenet_v2_0.35_32_fp32.onnx"))


@needs_sshd
def test_device_without_edgebb(sshd, artifacts):
    python = shutil.which("python3", path="/usr/bin:/bin")
    if not python or subprocess.run([python, "-c", "import edgebb"], capture_output=True).returncode == 0:
        pytest.skip("needs a Python without edgebb at /usr/bin/python3")
    result = edgebb("bench", str(artifacts), "--remote", sshd["destination"], "--remote-python", python,
                    *sshd["options"], *FAST)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"edgebb: error: edgebb is not installed for {python} on 127.0.0.1: "
                                "pip install 'edgebb[device]'"), result.stderr
    assert "Traceback" not in result.stderr


@needs_sshd
def test_device_without_that_python(sshd, artifacts):
    result = edgebb("bench", str(artifacts), "--remote", sshd["destination"], "--remote-python", "/nowhere/python3",
                    *sshd["options"], *FAST)
    assert result.returncode == 2
    assert "/nowhere/python3 not found on 127.0.0.1" in result.stderr.strip().splitlines()[-1]


@needs_sshd
def test_refused_connection(sshd, artifacts):
    port = _free_port()  # nothing listens there
    result = edgebb("bench", str(artifacts), "--remote", f"pi@127.0.0.1:{port}", *sshd["options"], *FAST)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last == (f"edgebb: error: cannot connect to 127.0.0.1 port {port}: connection refused (is the SSH server "
                    "running there, and on that port?)"), result.stderr


@needs_sshd
def test_key_not_accepted(sshd, artifacts):
    options = ["--ssh-option", f"IdentityFile={sshd['home'] / 'stranger_key'}", *sshd["options"][2:]]
    result = edgebb("bench", str(artifacts), "--remote", sshd["destination"], "--remote-python", sys.executable,
                    *options, *FAST)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "did not accept this machine's SSH keys" in last, result.stderr
    # at the device's port: ssh-copy-id alone would try port 22
    assert last.endswith(f": ssh-copy-id -p {sshd['port']} {sshd['user']}@127.0.0.1"), result.stderr


@needs_sshd
def test_device_without_sftp_subsystem(sshd, artifacts):
    """An sshd_config without `Subsystem sftp`: ssh works, but scp (OpenSSH 9 copies over SFTP) is refused, and the
    error says so instead of "lost the connection ... scp: Connection closed"."""
    port = _free_port()
    proc = _start_sshd(sshd["home"], port, sftp=False, name="no_sftp")
    try:
        result = edgebb("bench", str(artifacts), "--remote", f"{sshd['user']}@127.0.0.1:{port}", "--remote-python",
                        sys.executable, *sshd["options"], *FAST)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "edgebb: error: copying to 127.0.0.1 failed: its SSH server refused the sftp subsystem, which scp copies over "
        "(OpenSSH 9 and later; scp -O, the legacy protocol, does without it): enable it in the device's sshd_config "
        "(Subsystem sftp internal-sftp) and restart sshd"), result.stderr


@needs_sshd
def test_remote_bench_failure_is_one_line(sshd, artifacts, tmp_path):
    """A bench that fails on the device as a whole is one line with the device's own message: here a stand-in
    Python whose edgebb starts but whose bench stops with an error, as a full disk would."""
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\n[ "$3" = --version ] && { echo "edgebb, version 0.1.0"; exit 0; }\n'
                      'echo "edgebb: error: No space left on device" >&2; exit 2\n')
    python.chmod(0o755)
    result = edgebb("bench", str(artifacts), "--remote", sshd["destination"], "--remote-python", str(python),
                    *sshd["options"], *FAST)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == ("edgebb: error: edgebb bench failed on 127.0.0.1 (exit 2): "
                                                      "No space left on device")


def test_remote_imports_no_tensorflow():
    code = ("import sys, edgebb.benchmark.remote, edgebb.cli; "
            "print([m for m in ('tensorflow', 'tf_keras') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bad_remote_options_fail_before_connecting(artifacts):
    for args, message in [(["--remote", "pi@"], "expected user@host"), (["--remote", "pi@pi:http"], "port must be"),
                          (["--remote", ""], "expected user@host"),  # an unset $PI: it had benched here, silently
                          (["--remote", "pi@pi", "--runtime", "keras"], "needs TensorFlow"),
                          (["--remote", "pi@pi", "--ssh-option", "BatchMode"], "Key=value")]:
        result = edgebb("bench", str(artifacts), *args, *FAST)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)


@pytest.mark.parametrize("text, expected", [
    ("pi", ("pi", "pi", None)),
    ("pi@raspberrypi.local", ("pi@raspberrypi.local", "raspberrypi.local", None)),
    ("pi@10.0.0.7:2222", ("pi@10.0.0.7", "10.0.0.7", 2222)),
    ("ssh://pi@pi5:22/", ("pi@pi5", "pi5", 22)),
    ("pi@[fe80::1]:2200", ("pi@fe80::1", "fe80::1", 2200)),
    ("pi@fe80::1", ("pi@fe80::1", "fe80::1", None)),
])
def test_parse_destination(text, expected):
    assert parse_destination(text) == expected


def test_the_device_runs_the_formats_a_local_bench_would():
    """What is sent: without --runtime every artifact (the device runs each on its own format's runtime); with
    --runtime (or --best) the formats its runtimes load, and a backbone name is converted to .tflite."""
    from edgebb.benchmark import BenchOptions
    from edgebb.benchmark.remote import device_formats
    from edgebb.benchmark.targets import Target

    both = [Target("m", "fp32", {"tflite": "m.tflite", "onnx": "m.onnx"}), Target("n", "fp32", {"onnx": "n.onnx"})]
    assert device_formats(BenchOptions(), both) == ["onnx", "tflite"]
    assert device_formats(BenchOptions(), both[1:]) == ["onnx"]
    assert device_formats(BenchOptions(runtimes="litert"), both) == ["tflite"]
    assert device_formats(BenchOptions(best=True), both) == ["onnx", "tflite"]
    assert device_formats(BenchOptions(), [Target("m", "fp32", {"tflite": "m.tflite", "keras": "m.keras"})]) == \
        ["tflite"]  # the float model is no artifact to send


def test_a_device_with_only_tflite_runtime_still_gets_its_tflite_files():
    """32-bit Raspberry Pi OS has no ai-edge-litert wheel; bench there runs .tflite on tflite-runtime (its
    registered fallback). The device's answer about litert alone must not keep the .tflite files from it."""
    from edgebb.benchmark import BenchOptions
    from edgebb.benchmark.remote import RemoteError, _runnable, device_runtimes

    for opts in (BenchOptions(), BenchOptions(runtimes="litert"), BenchOptions(best=True)):
        assert device_runtimes(opts, "tflite")[:1] == ["litert"] and "tflite-runtime" in device_runtimes(opts, "tflite")
    wanted = {"tflite": device_runtimes(BenchOptions(), "tflite"), "onnx": device_runtimes(BenchOptions(), "onnx")}
    armv7 = {"litert": "ai-edge-litert is not installed", "tflite-runtime": "", "onnxruntime": "not installed"}
    notes: list[str] = []
    assert _runnable(["onnx", "tflite"], wanted, armv7, "pi", notes) == ["tflite"]
    assert len(notes) == 1 and notes[0].startswith("no runtime on pi runs .onnx (onnxruntime: not installed)")
    with pytest.raises(RemoteError, match=r"^no runtime on pi can run what was asked for \(litert: "):
        _runnable(["tflite"], wanted, {**armv7, "tflite-runtime": "not installed"}, "pi", [])
    assert _runnable(["tflite"], wanted, None, "pi", []) == ["tflite"]  # an older edgebb that cannot say


def test_scp_and_ssh_argv():
    remote = Remote("pi@fe80::1", "fe80::1", 2200, "~/edgebb/bin/python", ("IdentityFile=k", "BatchMode=yes"))
    argv = remote.scp(["a.tflite"], ":/tmp/x/")
    assert argv[-1] == "pi@[fe80::1]:/tmp/x/" and argv[-2] == "a.tflite"
    assert argv.index("IdentityFile=k") < argv.index("BatchMode=yes") and "Port=2200" in argv
    assert remote.python_word() == "\"$HOME\"/edgebb/bin/python"
    assert remote.ssh("true")[-2:] == ["pi@fe80::1", "true"]
    # ssh's errors, not its warnings ("subsystem request failed" tells a device without SFTP), the user's way first
    assert "-q" not in argv and argv.index("IdentityFile=k") < argv.index("LogLevel=ERROR")


@pytest.mark.parametrize("remote, copy_id, forget", [
    (Remote("pi@10.0.0.9", "10.0.0.9", 2222), "ssh-copy-id -p 2222 pi@10.0.0.9", "ssh-keygen -R '[10.0.0.9]:2222'"),
    (Remote("pi@pi5", "pi5", 22), "ssh-copy-id -p 22 pi@pi5", "ssh-keygen -R pi5"),
    (Remote("pi", "pi"), "ssh-copy-id pi", "ssh-keygen -R pi"),
    (Remote("pi@fe80::1", "fe80::1", 2200), "ssh-copy-id -p 2200 pi@fe80::1", "ssh-keygen -R '[fe80::1]:2200'"),
])
def test_key_hints_name_the_port(remote, copy_id, forget):
    """The commands a key error suggests reach the device at its port (known_hosts names it [host]:port)."""
    assert str(_ssh_failure(remote, "pi@pi: Permission denied (publickey).")).endswith(f": {copy_id}")
    assert str(_ssh_failure(remote, "Host key verification failed.")).endswith(f"check, then: {forget})")


@pytest.mark.parametrize("stderr, kind", [
    ("ssh: connect to host 10.0.0.9 port 22: Connection timed out", "unreachable"),
    ("ssh: connect to host 10.0.0.9 port 22: No route to host", "unreachable"),
    ("ssh: Could not resolve hostname nopi: Name or service not known", "unknown-host"),
    ("pi@pi: Permission denied (publickey,password).", "auth"),
    ("Host key verification failed.", "host-key"),
    ("ssh: connect to host 127.0.0.1 port 9: Connection refused", "refused"),
    ("Connection closed by 10.0.0.9 port 22", "lost"),
])
def test_ssh_failures_are_named(stderr, kind):
    error = _ssh_failure(Remote("pi@pi", "pi"), stderr)
    assert isinstance(error, InputError) and isinstance(error, RemoteError) and error.kind == kind
    assert "\n" not in str(error)
