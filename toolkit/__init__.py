"""edgebb: take a mobile CNN backbone from a Keras definition to a measured, verified artifact on an edge device.

Importing edgebb is cheap: TensorFlow is imported only by the modules that build, train or convert models.
"""

import os as _os

# tensorflow-model-optimization (QAT) works only with Keras 2 (tf_keras); TensorFlow reads this variable once,
# at its own import, so it must be set before anything imports TensorFlow.
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from edgebb.errors import CheckFailed, EdgebbError, InputError  # noqa: E402

__all__ = ["__version__", "EdgebbError", "InputError", "CheckFailed", "convert"]


def __getattr__(name):
    # The Python API mirrors the CLI (edgebb.convert(...)) without importing its modules until first use.
    if name == "convert":
        from edgebb.conversion import convert

        return convert
    raise AttributeError(f"module 'edgebb' has no attribute {name!r}")
