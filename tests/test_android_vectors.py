"""The Android app's checked-in test vectors are still what the Python toolkit produces.

android_demo/core/src/test/resources/vectors holds bytes written by edgebb's own preprocessing, quantization,
conversion and bench code (android_demo/tools/write_vectors.py); the Kotlin tests (`make android-test`) prove the app
computes the same bytes. Here the vectors are written again into a temporary folder and compared with the checked-in
ones, so a change on the Python side (preprocessing, Pillow, quantization, the bench schema) fails CI until the
vectors are regenerated with `make android-vectors` and the Kotlin core agrees with them again.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
VECTORS = ROOT / "android_demo" / "core" / "src" / "test" / "resources" / "vectors"
HINT = "the Python side changed: run `make android-vectors`, then `make android-test` (the Kotlin core must agree)"


def _load_writer():
    spec = importlib.util.spec_from_file_location("write_vectors", ROOT / "android_demo" / "tools" / "write_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def writer():
    return _load_writer()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, writer):
    """The vectors written now (two tiny conversions and a short bench run: about a minute), with the checked-in
    images (the shapes are drawn with floating point; the integer-made ones are compared apart below)."""
    out = tmp_path_factory.mktemp("android-vectors") / "vectors"
    writer.generate(str(out), reuse_images=str(VECTORS))
    return out


@pytest.fixture(scope="module")
def checked_in():
    return json.loads((VECTORS / "index.json").read_text())


@pytest.fixture(scope="module")
def index(fresh):
    return json.loads((fresh / "index.json").read_text())


def _files(root: pathlib.Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_same_files(fresh):
    assert _files(fresh) == _files(VECTORS), HINT


@pytest.mark.parametrize("section", ["images", "preprocessing", "preprocessing_cases", "resize_cases",
                                     "full_size_preprocessing", "full_size_cases", "full_size_quantization",
                                     "latency_cases", "bench_schema", "cpuinfo_cases", "diagnose_cases"])
def test_index_section(index, checked_in, section):
    assert index[section] == checked_in[section], f"index.json[{section!r}] differs: {HINT}"


def test_preprocessing_bytes(fresh, index):
    for case in index["preprocessing_cases"]:
        for key in ("pixels", "floats"):
            assert (fresh / case[key]).read_bytes() == (VECTORS / case[key]).read_bytes(), f"{case[key]}: {HINT}"


def test_manifests(fresh):
    keys = ("path", "format", "recipe", "inputs", "outputs", "options")
    for model in ("int8io", "uint8io"):
        new, old = (json.loads((root / "models" / model / "manifest.json").read_text()) for root in (fresh, VECTORS))
        assert new["preprocessing"] == old["preprocessing"], HINT
        assert new["labels"] == old["labels"], HINT
        tensors = [[{k: a[k] for k in keys} for a in m["artifacts"]] for m in (new, old)]
        assert tensors[0] == tensors[1], f"{model}: artifacts' tensors or quantization differ: {HINT}"
        labels = [(root / "models" / model / "labels.txt").read_text() for root in (fresh, VECTORS)]
        assert labels[0] == labels[1], HINT


def test_model_cases(fresh, index, checked_in):
    """Input tensors are exact (preprocessing and the input's quantization are integer-exact everywhere); outputs
    agree within what another CPU changes and the top-1 class is the same.

    The two tiny models are converted afresh here, and their float arithmetic differs between CPUs (AVX2 and
    AVX-512 kernels round differently, in TensorFlow's calibration pass and in XNNPACK): seen between two machines of
    this workplace, float scores moved by up to 7e-5 and int8 outputs by up to 20 steps of 1/256, with the same
    quantization parameters at the model's edges. The Kotlin tests read these vectors as data, so what must not
    drift is everything the app computes itself, which the sections above compare exactly."""
    assert len(index["model_cases"]) == len(checked_in["model_cases"])
    for new, old in zip(index["model_cases"], checked_in["model_cases"]):
        label = f"{new['model']} {new['recipe']} {new['image']}"
        assert {k: v for k, v in new.items() if k != "topk"} == {k: v for k, v in old.items() if k != "topk"}, label
        assert (fresh / new["input"]).read_bytes() == (VECTORS / old["input"]).read_bytes(), f"{label}: {HINT}"
        assert new["topk"][0]["index"] == old["topk"][0]["index"], label
        got, want = (np.fromfile(root / new["scores"], "<f4") for root in (fresh, VECTORS))
        if new["output_dtype"] == "float32":
            np.testing.assert_allclose(got, want, atol=2e-4, err_msg=label)
        else:
            np.testing.assert_allclose(got, want, atol=32 / 256, err_msg=label)


def test_integer_images_regenerate(writer):
    """The photo-like and hash images are integer arithmetic, so they come out the same everywhere."""
    from edgebb.data import load_image

    for name, array in writer.make_images().items():
        if name.startswith(("photo_", "noise_", "texture_")):
            np.testing.assert_array_equal(load_image(VECTORS / "images" / f"{name}.png"), array, err_msg=name)


def test_vectors_stay_small():
    size = sum(p.stat().st_size for p in VECTORS.rglob("*") if p.is_file())
    assert size < 1_000_000, f"test vectors grew to {size / 1e3:.0f} kB"
