import os

# Set before anything imports TensorFlow (edgebb sets them too; tests may import tf_keras first).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import pathlib  # noqa: E402

import pytest  # noqa: E402

# A copy of shared/reference/backbones.json (published figures), so the tests need nothing outside the repository.
REFERENCE = pathlib.Path(__file__).resolve().parent / "data" / "backbones.json"


@pytest.fixture(scope="session")
def reference():
    """Published figures (parameters, MACs, accuracy) from shared/reference/backbones.json."""
    return json.loads(REFERENCE.read_text())["backbones"]
