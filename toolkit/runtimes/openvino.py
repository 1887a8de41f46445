"""Intel's OpenVINO on the CPU, reading .onnx files directly (fp32 and QDQ int8): what Intel-based edge boxes run.

Compiled with the latency hint (one stream), `threads` inference threads and f32 inference precision. OpenVINO's
CPU plugin otherwise computes in bf16 wherever the CPU has AVX512_BF16 or AMX (as some EPYC and Xeon machines do),
which is not what an fp32 artifact computes: a float model's outputs moved by up to 0.18 (softmax) on such a
machine. `precision="bf16"` asks for it explicitly, as a deployment of its own. OpenVINO takes a QDQ model's
quantization as it is written and runs it with its own int8 kernels, so it is a second, independent check of an
int8 ONNX artifact as well as a deployment of its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import InputError
from .base import Runtime, Session, TensorInfo, import_module

HINTS = ("LATENCY", "THROUGHPUT")
PRECISIONS = ("f32", "bf16", "f16")


class OpenVinoSession(Session):
    """A session on an OpenVINO CompiledModel and one infer request."""

    runtime = "openvino"

    def __init__(self, path: str, compiled: Any, device: str):
        self.device = device
        self.provider = device  # what bench records as the execution provider of a row
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        super().__init__(path, [_port_info(p) for p in compiled.inputs], [_port_info(p) for p in compiled.outputs])

    def invoke_raw(self, x: np.ndarray) -> np.ndarray | list[np.ndarray]:
        self._check_open()
        self._request.infer({0: x})
        outputs = [np.array(self._request.get_output_tensor(i).data) for i in range(len(self.outputs))]  # copies
        return outputs[0] if len(outputs) == 1 else outputs

    def close(self) -> None:
        self._request = self._compiled = None
        super().close()


def _port_info(port: Any) -> TensorInfo:
    shape = port.get_partial_shape()
    dims = tuple(int(d.get_length()) if d.is_static else -1 for d in shape)
    return TensorInfo(name=port.get_any_name(), shape=dims, dtype=np.dtype(port.get_element_type().to_dtype()).name)


class OpenVinoRuntime(Runtime):
    """OpenVINO's CPU plugin. Options: `hint` (default "LATENCY": one request at a time, as bench measures) and
    `device` (default "CPU"; one of the devices openvino.Core lists) and `precision` (default "f32": what the
    float parts of the model compute in, INFERENCE_PRECISION_HINT). `threads` sets INFERENCE_NUM_THREADS."""

    name = "openvino"
    format = "onnx"
    package = "openvino"
    options = {"hint": "LATENCY", "device": "CPU", "precision": "f32"}

    def check(self) -> None:
        import_module("openvino", "openvino")

    def _open(self, path: str, threads: int | None, options: dict[str, Any]) -> Session:
        ov = import_module("openvino", "openvino")
        for key, allowed in (("hint", HINTS), ("precision", PRECISIONS)):
            if options[key] not in allowed:
                raise InputError(f"openvino option {key} must be one of {', '.join(allowed)}; received "
                                 f"{options[key]!r}")
        core = ov.Core()
        if options["device"] not in core.available_devices:
            raise InputError(f"openvino device {options['device']!r} is not available here; available: "
                             f"{', '.join(core.available_devices)}")
        config: dict[str, Any] = {"PERFORMANCE_HINT": options["hint"],
                                  "INFERENCE_PRECISION_HINT": options["precision"]}
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        compiled = core.compile_model(core.read_model(path), options["device"], config)
        return OpenVinoSession(path, compiled, options["device"])
