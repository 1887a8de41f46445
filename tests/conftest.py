import os

# Set before anything imports TensorFlow (edgebb sets them too; tests may import tf_keras first).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import pathlib  # noqa: E402

import pytest  # noqa: E402

REFERENCE = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "backbones.json"


@pytest.fixture(scope="session")
def reference():
    """Published figures (parameters, MACs, accuracy) from shared/reference/backbones.json."""
    if not REFERENCE.exists():
        pytest.skip(f"reference figures not found at {REFERENCE}")
    return json.loads(REFERENCE.read_text())["backbones"]
