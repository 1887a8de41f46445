"""tf_keras models as a runtime: the float reference on the TensorFlow side."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from .base import Runtime, RuntimeUnavailable, Session, TensorInfo


class KerasSession(Session):
    """A session on a tf_keras model, called in inference mode."""

    runtime = "keras"

    def __init__(self, path: str, model: Any):
        self._model = model
        # Layer names, as the TFLite signature and the ONNX graph name the same tensors.
        super().__init__(path, [_keras_info(n, t) for n, t in zip(model.input_names, model.inputs)],
                         [_keras_info(n, t) for n, t in zip(model.output_names, model.outputs)])

    def invoke_raw(self, x: np.ndarray) -> np.ndarray | list[np.ndarray]:
        self._check_open()
        outputs = self._model(x, training=False)
        if isinstance(outputs, (list, tuple)):
            return [np.asarray(o) for o in outputs]
        return np.asarray(outputs)

    def close(self) -> None:
        self._model = None
        super().close()

    def _batch_step(self) -> int:
        # A Keras model takes any batch size; a few dozen samples at a time keeps memory bounded.
        return 32 if self.inputs[0].shape[0] <= 0 else self.inputs[0].shape[0]


def _keras_info(name: str, tensor: Any) -> TensorInfo:
    shape = tuple(-1 if d is None else int(d) for d in tensor.shape)
    return TensorInfo(name=name, shape=shape, dtype=tensor.dtype.name)


class KerasRuntime(Runtime):
    """tf_keras models saved as .keras or .h5, loaded with edgebb's custom layers. `threads` sets TensorFlow's
    intra-op threads when TensorFlow has not started yet (it cannot change afterwards; then it is ignored)."""

    name = "keras"
    format = "keras"
    package = "tensorflow"

    def check(self) -> None:
        # Only whether the packages exist: importing TensorFlow takes seconds, so a broken install shows at load.
        for module, package in (("tensorflow", "tensorflow"), ("tf_keras", "tf_keras")):
            if importlib.util.find_spec(module) is None:
                raise RuntimeUnavailable(f"{package} is not installed (pip install 'edgebb[full]')")

    def _open(self, path: str, threads: int | None, options: dict[str, Any]) -> Session:
        from ..core.tf import load_tensorflow
        from ..models import load_model

        tf = load_tensorflow()
        if threads is not None:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
            except RuntimeError:
                pass  # TensorFlow already started with its thread pools; the setting cannot change any more
        return KerasSession(path, load_model(path))
