"""LiteRT's interpreter on the CPU (XNNPACK), and the legacy tflite-runtime, which exposes the same Interpreter.

>>> with get_runtime("litert").load("mnv2_int8.tflite", threads=4) as session:
...     probs = session.run(batch)
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np

from .base import Runtime, Session, TensorInfo, import_module


class InterpreterSession(Session):
    """A session on a TFLite `Interpreter` (ai-edge-litert or tflite-runtime)."""

    def __init__(self, path: str, interpreter: Any, runtime: str):
        self.runtime = runtime
        self._interpreter = interpreter
        in_details = interpreter.get_input_details()
        out_details = interpreter.get_output_details()
        self._input_indices = [d["index"] for d in in_details]
        self._output_indices = [d["index"] for d in out_details]
        names = signature_names(interpreter)
        super().__init__(path, [tflite_info(d, names) for d in in_details],
                         [tflite_info(d, names) for d in out_details])

    def invoke_raw(self, x: np.ndarray) -> np.ndarray | list[np.ndarray]:
        self._check_open()
        interpreter = self._interpreter
        interpreter.set_tensor(self._input_indices[0], x)
        interpreter.invoke()
        outputs = [interpreter.get_tensor(i) for i in self._output_indices]  # get_tensor copies
        return outputs[0] if len(outputs) == 1 else outputs

    def close(self) -> None:
        self._interpreter = None
        super().close()


def signature_names(interpreter: Any) -> dict[int, str]:
    """Tensor index -> name in the model's only signature, or {} when there is not exactly one.

    The converter names tensors after graph ops ("serving_default_input:0", "StatefulPartitionedCall:1") and
    does not keep Keras's output order for multi-output models; the serving signature keeps the Keras names
    (which are also the ONNX names), so callers can match outputs by name.
    """
    try:
        signatures = interpreter._get_full_signature_list()  # the only call that gives tensor indices
    except Exception:
        return {}
    if len(signatures) != 1:
        return {}
    (signature,) = signatures.values()
    return {index: name for part in ("inputs", "outputs") for name, index in signature.get(part, {}).items()}


def tflite_info(details: dict, names: dict[int, str]) -> TensorInfo:
    scale, zero_point = details.get("quantization", (0.0, 0))
    quantized = bool(scale)  # the interpreter reports (0.0, 0) for a float tensor
    return TensorInfo(
        name=names.get(details["index"], details["name"]), shape=tuple(int(d) for d in details["shape"]),
        dtype=np.dtype(details["dtype"]).name,
        scale=float(scale) if quantized else None, zero_point=int(zero_point) if quantized else None,
    )


class InterpreterRuntime(Runtime):
    """A runtime built on a module exposing TFLite's `Interpreter`; subclasses name the module and package.

    Options: `xnnpack` (default True): use the XNNPACK CPU delegate the interpreter applies by default; False runs
    the reference built-in kernels instead.
    """

    format = "tflite"
    options = {"xnnpack": True}
    module: ClassVar[str] = ""

    def check(self) -> None:
        import_module(self.module, self.package)

    def _open(self, path: str, threads: int | None, options: dict[str, Any]) -> Session:
        from ..core.native import stderr_silenced

        mod = import_module(self.module, self.package)
        kwargs: dict[str, Any] = {"model_path": path, "num_threads": threads}
        if not options["xnnpack"]:
            kwargs["experimental_op_resolver_type"] = mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        # The interpreter prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on descriptor 2 for
        # every model; errors still arrive as Python exceptions.
        try:
            with stderr_silenced():
                interpreter = mod.Interpreter(**kwargs)
                interpreter.allocate_tensors()
        except RuntimeError as exc:  # its error reporter runs its messages together: "...runtimeNode number 39 ..."
            raise RuntimeError(separate_reports(str(exc))) from exc
        return InterpreterSession(path, interpreter, self.name)


def separate_reports(text: str) -> str:
    """The interpreter's error text with its reports apart: TFLite's error reporter appends each message without a
    separator, so "failed to create XNNPACK runtime" and "Node number 39 (TfLiteXNNPackDelegate) failed to
    prepare." arrive as "...runtimeNode number 39 ..."."""
    return re.sub(r"(?<=\S)(?=Node number \d+ )", "; ", text)


class LiteRTRuntime(InterpreterRuntime):
    """Google's LiteRT (ai-edge-litert), the successor of tflite-runtime; XNNPACK on by default."""

    name = "litert"
    module = "ai_edge_litert.interpreter"
    package = "ai-edge-litert"
    fallback = "tflite-runtime"  # 32-bit Raspberry Pi OS has no ai-edge-litert wheel


class TFLiteRuntime(InterpreterRuntime):
    """The legacy tflite-runtime package (no releases for numpy 2 or recent Pythons)."""

    name = "tflite-runtime"
    module = "tflite_runtime.interpreter"
    package = "tflite-runtime"
