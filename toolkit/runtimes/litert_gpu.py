"""LiteRT's GPU accelerator: a CompiledModel on WebGPU (Google's Dawn) over Vulkan on Linux, with XNNPACK taking
whatever op the GPU cannot. Without a GPU, Mesa's lavapipe (software Vulkan, Mesa >= 25) is the device: it runs
the same GPU kernels, so parity and labelling can be tested on any machine, but its latency is CPU emulation.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import replace
from typing import Any

import numpy as np

from ..core.errors import InputError, first_line
from ..core.native import output_captured, stderr_silenced
from . import _vulkan
from .base import Runtime, RuntimeUnavailable, Session, TensorInfo, import_module, package_version
from .litert import signature_names, tflite_info

# What LiteRT logs when it creates its WebGPU environment, naming the adapter Dawn picked: "Selected adapter:
# llvmpipe (LLVM 15.0.6, 256 bits), arch=software, vendor=mesa, backend=Vulkan, adapterType=CPU / Software".
_SELECTED_ADAPTER = re.compile(r"Selected adapter: (?P<name>.*?), arch=(?P<arch>[^,\n]*), vendor=(?P<vendor>[^,\n]*), "
                               r"backend=(?P<backend>[^,\n]*), adapterType=(?P<type>[^\n]*)")

# The GPU accelerator libraries LiteRT's registry looks for beside libLiteRt.so on Linux.
_GPU_ACCELERATOR_LIBRARIES = ("libLiteRtWebGpuAccelerator.so", "libLiteRtGpuAccelerator.so")


# Element types LiteRT's TensorBuffer can be written and read as.
_TENSOR_BUFFER_DTYPES = ("float32", "float16", "int32", "int8", "uint8", "bool")


# Why LiteRT could not create its GPU environment in this process, once a load has found out: the environment is
# not per model, so later checks answer with it instead of paying for another failed start.
_GPU_FAILURE: list[str] = []



def _gpu_environment_failure(log: str) -> str | None:
    """A one-line reason when LiteRT's native log says its GPU (WebGPU) environment could not start, else None."""
    if "WebGPU environment" not in log or not re.search(r"No adapters found|No supported adapters|Failed to init", log):
        return None
    # Dawn says why it passed over each adapter on a "Warning:" line ("Couldn't load Vulkan: libvulkan.so.1: ...",
    # "Vulkan shaderUniform*ArrayDynamicIndexing required."); limits it merely lowers are not reasons.
    reasons = [line.removeprefix("Warning:").strip() for line in log.splitlines()
               if line.startswith("Warning:") and "artificially reduced" not in line]
    detail = "; ".join(dict.fromkeys(reasons)) or "no adapters found"
    return f"LiteRT's GPU accelerator found no usable WebGPU adapter: {detail}"


def _load_error(log: str) -> str:
    """The most telling line of LiteRT's native log after a failed load (its exception names only source lines)."""
    lines = [line.strip().lstrip("└").strip() for line in log.splitlines()]
    errors = [line for line in lines if re.match(r"(ERROR|E\d{4}|Error)", line) and "compiler_plugin" not in line]
    return errors[-1] if errors else ""



class LiteRTGpuSession(Session):
    """A session on a LiteRT `CompiledModel` with the GPU accelerator (and the CPU for ops the GPU cannot run).

    Besides inputs and outputs it records what a measurement on it is worth:
      adapter: the GPU adapter LiteRT selected, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"; None if unknown.
      software: True when that adapter is a software rasterizer (llvmpipe/lavapipe, SwiftShader): its latency is
        CPU emulation, not GPU speed. None if unknown.
      fully_accelerated: whether every op runs on the GPU (CompiledModel.is_fully_accelerated); None if this
        ai-edge-litert cannot say.
      enforce_f32: whether the GPU computes in float32 (else LiteRT lets it use float16, as on a phone).
      adapter_info: what is known of the adapter: name, arch, vendor, backend, type, driver, and source ("litert":
        LiteRT's own log of its choice; "vulkan": the Vulkan device Dawn prefers, when LiteRT did not say).
      unknown: for each of adapter, software and fully_accelerated that is None, why.

    `invoke_raw` writes the input, runs, and reads every output back: LiteRT's GPU runs are asynchronous, and the
    read waits for the result, so a timer around `invoke_raw` measures finished work.
    """

    runtime = "litert-gpu"

    def __init__(self, path: str, model: Any, buffers: tuple[list, list], inputs: list[TensorInfo],
                 outputs: list[TensorInfo], adapter_info: dict[str, str], enforce_f32: bool):
        self._model = model
        self._input_buffers, self._output_buffers = buffers
        self.enforce_f32 = enforce_f32
        self.adapter_info = adapter_info
        self.unknown: dict[str, str] = {}
        self.adapter: str | None = adapter_info.get("name")
        self.software: bool | None = _is_software(adapter_info) if self.adapter else None
        if self.adapter is None:
            self.unknown["adapter"] = self.unknown["software"] = ("LiteRT logged no adapter and the Vulkan loader "
                                                                  "lists no usable device")
        self.fully_accelerated: bool | None = None
        if hasattr(model, "is_fully_accelerated"):
            self.fully_accelerated = bool(model.is_fully_accelerated())
        else:
            self.unknown["fully_accelerated"] = "this ai-edge-litert has no CompiledModel.is_fully_accelerated"
        super().__init__(path, inputs, outputs)

    def invoke_raw(self, x: np.ndarray) -> np.ndarray | list[np.ndarray]:
        self._check_open()
        info = self.inputs[0]
        x = np.ascontiguousarray(x)
        # A TensorBuffer takes a shorter array without complaint and leaves the rest of the tensor stale.
        if x.dtype.name != info.dtype or x.size != int(np.prod(info.shape)):
            raise InputError(f"{self.path} takes one {info.dtype} input of shape {info.shape}; received "
                             f"{x.dtype.name} {tuple(x.shape)}")
        self._input_buffers[0].write(x)
        self._model.run_by_index(0, self._input_buffers, self._output_buffers)
        outputs = [buffer.read(int(np.prod(out.shape)), np.dtype(out.dtype)).reshape(out.shape)
                   for buffer, out in zip(self._output_buffers, self.outputs)]
        return outputs[0] if len(outputs) == 1 else outputs

    def close(self) -> None:
        if self._model is not None:
            with stderr_silenced():  # LiteRT logs every accelerator it tears down
                for buffer in self._input_buffers + self._output_buffers:
                    buffer.destroy()
                environment = getattr(self._model, "environment", None)  # the model's own; none before 2.x
                self._model.close()
                if environment is not None:
                    environment.close()
        self._model = None
        self._input_buffers = self._output_buffers = []
        super().close()


class LiteRTGpuRuntime(Runtime):
    """LiteRT's CompiledModel with the GPU accelerator (WebGPU over Vulkan on Linux), CPU (XNNPACK) for the ops the
    GPU cannot run. `threads` sets the CPU part's threads.

    Options: `enforce_f32` (default False): make the GPU compute in float32. LiteRT's default lets it use float16,
    as a phone's GPU does: on a MobileNetV2 that moves softmax outputs by a few 1e-2, against about 1e-5 in float32.

    Quantized (int8/uint8) models load: their inputs and outputs are quantized and dequantized as on the CPU
    runtimes, but the GPU computes them in floating point after dequantizing the weights, so their outputs differ
    from the CPU's integer kernels by more than one quantization step.
    """

    name = "litert-gpu"
    format = "tflite"
    target = "gpu"
    package = "ai-edge-litert"
    options = {"enforce_f32": False}

    def check(self) -> None:
        if _GPU_FAILURE:
            raise RuntimeUnavailable(_GPU_FAILURE[0])
        import_module("ai_edge_litert", "ai-edge-litert")
        version = package_version("ai-edge-litert") or "?"
        if importlib.util.find_spec("ai_edge_litert.compiled_model") is None:
            raise RuntimeUnavailable(f"ai-edge-litert {version} has no CompiledModel, LiteRT's GPU API "
                                     "(pip install -U ai-edge-litert)")
        mod = import_module("ai_edge_litert.compiled_model", "ai-edge-litert")
        accelerator = getattr(mod, "HardwareAccelerator", None)
        if not hasattr(mod, "CompiledModel") or not hasattr(accelerator, "GPU"):
            raise RuntimeUnavailable(f"ai-edge-litert {version} has no CompiledModel with a GPU accelerator "
                                     "(pip install -U ai-edge-litert)")
        if sys.platform != "linux":
            return  # elsewhere LiteRT has other GPU back ends; the load itself tells
        folder = os.path.dirname(os.path.abspath(mod.__file__))
        if not any(os.path.exists(os.path.join(folder, lib)) for lib in _GPU_ACCELERATOR_LIBRARIES):
            raise RuntimeUnavailable(f"ai-edge-litert {version} ships no GPU accelerator library "
                                     f"({_GPU_ACCELERATOR_LIBRARIES[0]}) for this platform")
        _vulkan.usable_vulkan_device()

    def software_device(self) -> str | None:
        """The Vulkan device Dawn would pick here, when it is a software one (lavapipe): Vulkan devices are preferred
        by kind with CPU implementations last, so it is one only where every usable device is."""
        if sys.platform != "linux":
            return None
        try:
            device = _vulkan.usable_vulkan_device()
        except RuntimeUnavailable:
            return None
        return device.name if device.software else None

    def _open(self, path: str, threads: int | None, options: dict[str, Any]) -> Session:
        enforce_f32 = options["enforce_f32"]
        if not isinstance(enforce_f32, bool):
            raise InputError(f"litert-gpu option enforce_f32 must be True or False; received {enforce_f32!r}")
        interpreter_mod = import_module("ai_edge_litert.interpreter", "ai-edge-litert")
        mod = import_module("ai_edge_litert.compiled_model", "ai-edge-litert")
        # The Interpreter verifies the flatbuffer (CompiledModel crashes the process on a truncated file) and
        # knows each tensor's quantization, which CompiledModel's tensor details leave out.
        with stderr_silenced():
            interpreter = interpreter_mod.Interpreter(model_path=path)
        details = {d["index"]: d for d in interpreter.get_input_details() + interpreter.get_output_details()}
        names = signature_names(interpreter)
        for d in details.values():
            dtype = np.dtype(d["dtype"]).name
            if dtype not in _TENSOR_BUFFER_DTYPES:
                raise InputError(f"{path} has a {dtype} tensor ({d['name']}); litert-gpu moves only "
                                 f"{', '.join(_TENSOR_BUFFER_DTYPES)} tensors in and out of the GPU")
        del interpreter  # it holds a copy of the model; the CompiledModel below loads its own

        _vulkan.ensure_xdg_runtime_dir()
        accelerators = mod.HardwareAccelerator.GPU | mod.HardwareAccelerator.CPU
        if hasattr(mod, "Options"):
            kwargs: dict[str, Any] = {"options": mod.Options(
                hardware_accelerators=accelerators,
                cpu_options=mod.CpuOptions(num_threads=threads or 0),  # 0: LiteRT's choice
                gpu_options=mod.GpuOptions(enforce_f32=enforce_f32))}
        elif enforce_f32:
            raise InputError("this ai-edge-litert has no GpuOptions, so litert-gpu cannot enforce float32")
        else:
            kwargs = {"hardware_accel": accelerators}

        log: list[str] = []
        try:
            with output_captured(log):
                model = mod.CompiledModel.from_file(path, **kwargs)
                key = model.get_signature_by_index(0)["key"]
                signature = model.get_signature_list()[key]
                in_details = model.get_input_tensor_details(key)
                out_details = model.get_output_tensor_details(key)
                buffers = (model.create_input_buffers(0), model.create_output_buffers(0))
                # The first write in a process starts LiteRT's buffer environment, which logs; do it here, not in
                # the first timed invoke_raw.
                for buffer, name in zip(buffers[0], signature["inputs"]):
                    buffer.write(np.zeros(in_details[name]["shape"], np.dtype(in_details[name]["dtype"])))
        except Exception as exc:
            text = "".join(log)
            reason = _gpu_environment_failure(text)
            if reason:
                _GPU_FAILURE[:] = [reason]
                raise RuntimeUnavailable(reason) from exc
            detail = _load_error(text) or first_line(exc)
            raise InputError(f"cannot load {path} with {self.name}: {detail}") from exc
        # In signature order, the order of the buffers (the Interpreter orders outputs its own way).
        inputs = [_gpu_info(name, in_details[name], details, names) for name in signature["inputs"]]
        outputs = [_gpu_info(name, out_details[name], details, names) for name in signature["outputs"]]
        return LiteRTGpuSession(path, model, buffers, inputs, outputs, _adapter_info("".join(log)), enforce_f32)


def _gpu_info(name: str, compiled: dict[str, Any], details: dict[int, dict], names: dict[int, str]) -> TensorInfo:
    """TensorInfo for one CompiledModel tensor, with the quantization the Interpreter reads for the same index."""
    shape = tuple(int(d) for d in compiled["shape"])
    found = details.get(compiled["index"])
    if found is None:  # a signature other than the Interpreter's first subgraph: no quantization to be had
        return TensorInfo(name=name, shape=shape, dtype=np.dtype(compiled["dtype"]).name)
    return replace(tflite_info(found, names), name=name, shape=shape)


def _adapter_info(log: str) -> dict[str, str]:
    """The adapter LiteRT selected, from its log; else the Vulkan device Dawn would prefer; {} when neither says.
    The Vulkan driver's description ("Mesa 25.0.7 (LLVM 15.0.6)") is added when the loader lists the adapter."""
    matches = list(_SELECTED_ADAPTER.finditer(log))
    if matches:
        match = matches[-1]  # the last one: the environment this model was compiled in
        info = {key: value.strip() for key, value in match.groupdict().items()}
        info["source"] = "litert"
    elif sys.platform == "linux":
        try:
            device = _vulkan.usable_vulkan_device()
        except RuntimeUnavailable:
            return {}
        info = {"name": device.name, "type": device.kind, "backend": "Vulkan", "source": "vulkan"}
    else:
        return {}
    devices = _vulkan.vulkan_devices()[0] if sys.platform == "linux" else ()
    for device in devices:
        if device.name == info["name"] and device.driver:
            info["driver"] = device.driver
    return info


def _is_software(info: dict[str, str]) -> bool:
    """Whether an adapter is a software rasterizer: LiteRT says arch=software or adapterType=CPU, Vulkan says its
    type is cpu, or the name is one of the known software drivers."""
    return (info.get("arch", "").lower() == "software" or "cpu" in info.get("type", "").lower()
            or bool(_vulkan.SOFTWARE_ADAPTER.search(info.get("name", ""))))
