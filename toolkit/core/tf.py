"""Importing TensorFlow once, quietly, with Keras 2.

tensorflow-model-optimization (QAT) works only with Keras 2 (tf_keras), and TensorFlow reads
TF_USE_LEGACY_KERAS once, at its own import; `import edgebb` sets it. TensorFlow's C++ runtime prints start-up
notices to descriptor 2 before its logging is configured, so the import runs with that descriptor silenced.
"""

from __future__ import annotations

import contextlib
import sys

from .native import debugging, stderr_silenced


def load_tensorflow():
    """Import TensorFlow and tf_keras (Keras 2) once, quietly; returns the tensorflow module."""
    if "tensorflow" in sys.modules and "tf_keras" in sys.modules:
        return sys.modules["tensorflow"]
    import edgebb  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

    with stderr_silenced():
        import tensorflow as tf
        import tf_keras  # noqa: F401

        tf.config.list_physical_devices()  # the CUDA probe happens here, under the silenced descriptor
        # "5 out of the last 5 calls to <function> triggered tf.function retracing" when several backbones are
        # built in one process: expected here, and not the user's business.
        tf.get_logger().setLevel("ERROR")
    return tf


@contextlib.contextmanager
def quiet():
    """Silence the converters' own chatter (C++ notices on fd 2, Python warnings, root-logger warnings from
    ONNX Runtime's quantizer) for the duration of a conversion; exceptions still propagate."""
    import logging
    import warnings

    root = logging.getLogger()
    level = root.level
    with warnings.catch_warnings():
        if not debugging():
            warnings.simplefilter("ignore")
            root.setLevel(logging.ERROR)
        try:
            with stderr_silenced():
                yield
        finally:
            root.setLevel(level)
