import os

# Set before anything imports TensorFlow (edgebb sets them too; tests may import tf_keras first).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The tests' cache (converted baselines, the GEMM peak, the emulated Pi's sysroot) is their own, not the user's:
# a peak probed while the other test process ran would be low, and the user's benches would read it. It persists
# between runs of this clone (pytest's .gitignored cache folder), as ~/.cache would.
os.environ["XDG_CACHE_HOME"] = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                            ".pytest_cache", "xdg")

import json  # noqa: E402
import pathlib  # noqa: E402

import pytest  # noqa: E402

# A copy of shared/reference/backbones.json (published figures), so the tests need nothing outside the repository.
REFERENCE = pathlib.Path(__file__).resolve().parent / "data" / "backbones.json"


@pytest.fixture(scope="session")
def reference():
    """Published figures (parameters, MACs, accuracy) from shared/reference/backbones.json."""
    return json.loads(REFERENCE.read_text())["backbones"]


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory):
    """MobileNetV2 0.35 at 32x32 as fp32 and int8 .tflite with its manifest.json: converted once per session (it
    takes most of a minute) for the tests that need real artifacts but not their accuracy."""
    from edgebb.conversion import convert

    out = tmp_path_factory.mktemp("tiny_tflite")
    convert("mobilenet_v2", str(out), None, recipes="fp32,int8", formats="tflite", width=0.35, size=32,
            calib_samples=8, eval_samples=8)
    return out


# The heaviest files first (their measured seconds in CI, most first): pytest-xdist's --dist loadfile hands files
# to the two processes in collection order, so a heavy file collected late can run alone at the end while the other
# process has nothing left to do. The rest keep their alphabetical order.
HEAVY_FIRST = ("test_qat.py", "test_reference.py", "test_convert.py", "test_sweep.py", "test_onnx_export.py",
               "test_bench.py", "test_classic.py", "test_cli.py", "test_ray.py", "test_train.py", "test_recommend.py",
               "test_zoo.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order
