"""Microsoft's ONNX Runtime on its CPU execution provider (or another provider named in the options)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..core.errors import InputError
from .base import Runtime, Session, TensorInfo, import_module

_ONNX_DTYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16", "tensor(uint16)": "uint16",
    "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(bool)": "bool",
}


class OnnxSession(Session):
    """A session on an `onnxruntime.InferenceSession`."""

    runtime = "onnxruntime"

    def __init__(self, path: str, session: Any, provider: str):
        self.provider = provider
        # What onnxruntime actually set up: it appends CPUExecutionProvider, which silently takes every node
        # the asked-for provider cannot run.
        self.providers: list[str] = list(session.get_providers())
        self._session = session
        inputs = [_onnx_info(a) for a in session.get_inputs()]
        outputs = [_onnx_info(a) for a in session.get_outputs()]
        self._input_name = inputs[0].name if inputs else ""
        self._output_names = [o.name for o in outputs]
        super().__init__(path, inputs, outputs)

    def invoke_raw(self, x: np.ndarray) -> np.ndarray | list[np.ndarray]:
        self._check_open()
        outputs = self._session.run(self._output_names, {self._input_name: x})
        return outputs[0] if len(outputs) == 1 else outputs

    def close(self) -> None:
        self._session = None
        super().close()


def _onnx_info(arg: Any) -> TensorInfo:
    # Symbolic ("batch", "unk__12") and missing dimensions are dynamic.
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or ()))
    dtype = _ONNX_DTYPES.get(arg.type, arg.type.removeprefix("tensor(").removesuffix(")"))
    return TensorInfo(name=arg.name, shape=shape, dtype=dtype)


class OnnxRuntime(Runtime):
    """Microsoft's ONNX Runtime. Options: `provider` (default "CPUExecutionProvider"), one of
    `onnxruntime.get_available_providers()`. `threads` sets intra_op_num_threads."""

    name = "onnxruntime"
    format = "onnx"
    package = "onnxruntime"
    options = {"provider": "CPUExecutionProvider"}

    def check(self) -> None:
        import_module("onnxruntime", "onnxruntime")

    def _open(self, path: str, threads: int | None, options: dict[str, Any]) -> Session:
        ort = import_module("onnxruntime", "onnxruntime")
        provider = options["provider"]
        providers = ort.get_available_providers()
        # onnxruntime only warns about an unavailable provider and quietly runs on the CPU instead, which would
        # make a benchmark measure something other than what was asked for.
        if provider not in providers:
            raise InputError(f"onnxruntime provider {provider!r} is not available here; available: "
                             f"{', '.join(providers)}")
        so = ort.SessionOptions()
        if threads is not None:
            so.intra_op_num_threads = threads
        so.log_severity_level = 3  # errors only: graph-optimizer notices are not the user's business
        session = ort.InferenceSession(path, so, providers=[provider])
        return OnnxSession(path, session, provider)

    profiles = True

    def profile(self, path: str, x: np.ndarray, threads: int | None, folder: str, runs: int = 20) -> list[dict]:
        """Per-op-type time from ONNX Runtime's own profiler (a Chrome trace of every node run), ms per inference."""
        import json
        import os

        ort = import_module("onnxruntime", "onnxruntime")
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.log_severity_level = 3  # as in _open: errors only
        options.profile_file_prefix = os.path.join(folder, "ort_profile")
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        warmup = 5  # the first runs allocate and pack weights: several times a steady run of a small model
        for _ in range(warmup + runs):
            session.run(None, {name: x})
        with open(session.end_profiling()) as f:
            events = json.load(f)
        starts = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e.get("name") == "model_run")
        steady = starts[warmup] if len(starts) > warmup else 0
        grouped = _grouped_convs(path)
        by_op: dict[str, list[float]] = {}
        for event in events:
            if event.get("ts", 0) < steady:
                continue
            if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
                op = event.get("args", {}).get("op_name", "?")
                node = re.sub(r"_token_\d+$", "", event["name"][: -len("_kernel_time")])  # a fused node: name_token_N
                if node in grouped:
                    op += " (depthwise/grouped)"  # memory-bound: few MACs per byte moved
                by_op.setdefault(op, []).append(event["dur"] / 1e3)
        total = sum(sum(v) for v in by_op.values()) or 1.0
        rows = [{"op": op, "count": len(v) // runs, "ms": sum(v) / runs, "share": sum(v) / total}
                for op, v in by_op.items()]
        return sorted(rows, key=lambda r: r["ms"], reverse=True)


def _grouped_convs(path: str) -> set[str]:
    """Names of the Conv / QLinearConv / ConvInteger nodes with group > 1 (depthwise or grouped) in the model file;
    ONNX Runtime keeps a node's name through its own fusions. Empty where onnx cannot read it."""
    try:
        import onnx
    except ImportError:
        return set()
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception:  # noqa: BLE001  (only a label is lost)
        return set()
    return {n.name for n in model.graph.node if n.op_type in ("Conv", "QLinearConv", "ConvInteger")
            and any(a.name == "group" and a.i > 1 for a in n.attribute)}
