"""Importing TensorFlow quietly.

TensorFlow's C++ runtime prints start-up notices (oneDNN, "could not find cuda drivers", cuInit) straight to file
descriptor 2 before its logging is configured, so no environment variable silences them. edgebb imports it with
that descriptor pointed at /dev/null; Python exceptions are unaffected. EDGEBB_DEBUG=1 shows everything.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def _native_stderr_silenced():
    if os.environ.get("EDGEBB_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_tensorflow():
    """Import TensorFlow and tf_keras (Keras 2) once, quietly; returns the tensorflow module."""
    if "tensorflow" in sys.modules and "tf_keras" in sys.modules:
        return sys.modules["tensorflow"]
    import edgebb  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

    with _native_stderr_silenced():
        import tensorflow as tf
        import tf_keras  # noqa: F401

        tf.config.list_physical_devices()  # the CUDA probe happens here, under the silenced descriptor
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
        if not os.environ.get("EDGEBB_DEBUG"):
            warnings.simplefilter("ignore")
            root.setLevel(logging.ERROR)
        try:
            with _native_stderr_silenced():
                yield
        finally:
            root.setLevel(level)
