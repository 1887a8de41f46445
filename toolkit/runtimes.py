"""Inference runtimes behind one interface: load an exported artifact, run a batch, close.

Every runtime answers `check()` (raises RuntimeUnavailable with a one-line reason when it cannot run here) and
`load(path, threads, **options)`, which returns a `Session`. `Session.run` takes a float32 batch that is already
normalized by the backbone's preprocessing and returns float32 outputs, quantizing the input and dequantizing the
output itself when the model's own tensors are integer; `Session.invoke_raw` runs one already-typed batch-1 input,
so a benchmark times the runtime and nothing else.

>>> from edgebb.runtimes import load_artifact
>>> with load_artifact("mnv2_int8.tflite", threads=4) as session:
...     probs = session.run(batch)          # float32 in, float32 out, batch of any size

Runtimes live in `RUNTIMES` (name -> instance): litert, litert-gpu (LiteRT's GPU accelerator), tflite-runtime,
onnxruntime and keras; `register` adds one. No runtime library is imported by this module: each is imported by the
runtime that needs it, when it is first checked or loaded, so `edgebb bench` on a device never imports TensorFlow.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

import numpy as np

from .errors import EdgebbError, InputError, first_line, unknown_name

__all__ = [
    "RUNTIMES", "Runtime", "RuntimeUnavailable", "Session", "TensorInfo", "available", "get_runtime",
    "load_artifact", "register", "runtime_for", "versions",
]

QUANTIZED_DTYPES = ("int8", "uint8", "int16")


class RuntimeUnavailable(Exception):
    """A runtime that cannot run on this machine; `str(exc)` (also `exc.reason`) is a one-line reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output as the runtime sees it. Dynamic dimensions are -1.

    `scale` and `zero_point` are set for quantized integer tensors: real = (q - zero_point) * scale.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None

    @property
    def quantized(self) -> bool:
        """True for an int8/uint8/int16 tensor with quantization parameters."""
        return self.dtype in QUANTIZED_DTYPES and self.scale is not None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (shape as a list), for manifests and reports."""
        data = asdict(self)
        data["shape"] = list(self.shape)
        return data


def quantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Real values `x` to `info`'s integer dtype: round, add the zero point, clip to the dtype's range."""
    dtype = np.dtype(info.dtype)
    limits = np.iinfo(dtype)
    q = np.round(x / np.float32(info.scale)) + info.zero_point
    return np.clip(q, limits.min, limits.max).astype(dtype)


def dequantize(q: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Integer values `q` of tensor `info` back to real float32 values."""
    return ((q.astype(np.float32) - np.float32(info.zero_point)) * np.float32(info.scale)).astype(np.float32)


class Session:
    """A loaded model. Subclasses fill `inputs`, `outputs` and `runtime`, and implement `invoke_raw`."""

    runtime: str = ""

    def __init__(self, path: str, inputs: list[TensorInfo], outputs: list[TensorInfo]):
        self.path = path
        self.inputs = inputs
        self.outputs = outputs
        self.closed = False

    def invoke_raw(self, x: np.ndarray) -> np.ndarray | list[np.ndarray]:
        """Run one input already in the model's dtype and shape (batch 1 for a fixed-shape model); return the
        raw output (a list for a model with several outputs). No conversion happens here: this is what a
        benchmark times."""
        raise NotImplementedError

    def run(self, x: np.ndarray) -> np.ndarray | list[np.ndarray]:
        """Run a float32 batch (N, ...) already normalized by the model's preprocessing.

        Quantizes the input with the input tensor's scale and zero point when the model takes integers, runs the
        batch in pieces the model accepts (one sample for batch-1 models) and returns float32 outputs (N, ...),
        dequantized when the model's outputs are integers; a list in `outputs` order for a multi-output model.

        Raises InputError when the model has several inputs, or `x` does not fit the input's shape.
        """
        self._check_open()
        if len(self.inputs) != 1:
            raise InputError(f"{self.path} has {len(self.inputs)} inputs; run takes single-input models")
        info = self.inputs[0]
        x = np.asarray(x, dtype=np.float32)
        self._check_shape(x, info)
        step = self._batch_step()
        if info.shape[0] > 1 and len(x) % step:
            raise InputError(f"{self.path} takes batches of {step}; received {len(x)} samples")
        pieces: list[list[np.ndarray]] = [[] for _ in self.outputs]
        for start in range(0, len(x), step):
            chunk = x[start:start + step]
            raw = self.invoke_raw(quantize(chunk, info) if info.quantized else chunk.astype(info.dtype, copy=False))
            for piece, out, value in zip(pieces, self.outputs, raw if isinstance(raw, list) else [raw]):
                value = np.asarray(value)
                piece.append(dequantize(value, out) if out.quantized else value.astype(np.float32))
        results = [np.concatenate(piece, axis=0) for piece in pieces]
        return results[0] if len(results) == 1 else results

    def close(self) -> None:
        """Release the model. Safe to call twice."""
        self.closed = True

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.runtime} {self.path}{' (closed)' if self.closed else ''}>"

    def _batch_step(self) -> int:
        # A fixed batch dimension is what the model was exported with; a dynamic one is fed batch 1, the shape
        # every exported backbone is measured at.
        batch = self.inputs[0].shape[0] if self.inputs[0].shape else 1
        return batch if batch > 0 else 1

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(f"session for {self.path} is closed")

    def _check_shape(self, x: np.ndarray, info: TensorInfo) -> None:
        expected = info.shape
        fits = x.ndim == len(expected) and all(want in (-1, got) for want, got in zip(expected[1:], x.shape[1:]))
        if not fits or len(x) == 0:
            want = "(N, " + ", ".join("?" if d < 0 else str(d) for d in expected[1:]) + ")"
            raise InputError(f"input of shape {tuple(x.shape)} does not fit {self.path}: expected {want}")


class Runtime:
    """An inference engine. Subclasses set `name`, `formats` (file suffixes) and `options` (option name ->
    default), and implement `check` and `_open`."""

    name: ClassVar[str] = ""
    formats: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[dict[str, Any]] = {}

    def check(self) -> None:
        """Raise RuntimeUnavailable with a one-line reason if this runtime cannot run here."""
        raise NotImplementedError

    def load(self, path: str, threads: int | None = None, **options) -> Session:
        """Load the artifact at `path` and return a Session.

        `threads` is the number of CPU threads for inference (None: the runtime's default); `options` are this
        runtime's own options (see `options`).

        Raises InputError for an unknown option or bad thread count, a missing, empty or wrongly-suffixed file,
        or a file the runtime cannot load (one line naming the file); RuntimeUnavailable if the runtime cannot
        run here.
        """
        path = os.fspath(path)
        resolved = self._resolve_options(options)
        threads = _check_threads(threads)
        self._check_file(path)
        self.check()
        try:
            return self._open(path, threads, resolved)
        except (EdgebbError, RuntimeUnavailable):
            raise
        except Exception as exc:  # runtimes raise many types for a damaged file; all mean "cannot load it"
            raise InputError(f"cannot load {path} with {self.name}: {first_line(exc)}") from exc

    def _open(self, path: str, threads: int | None, options: dict[str, Any]) -> Session:
        raise NotImplementedError

    def _resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        for key in options:
            if key not in self.options:
                if not self.options:
                    raise InputError(f"runtime {self.name} takes no options; received {key!r}")
                raise unknown_name(f"{self.name} option", key, list(self.options))
        return {**self.options, **options}

    def _check_file(self, path: str) -> None:
        if not os.path.exists(path):
            raise InputError(f"artifact not found: {path}")
        if not os.path.isfile(path):
            raise InputError(f"artifact is not a file: {path}")
        if os.path.getsize(path) == 0:
            raise InputError(f"artifact is empty: {path}")
        if not path.lower().endswith(self.formats):
            raise InputError(f"runtime {self.name} loads {', '.join(self.formats)} files; received {path}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


# ---------------------------------------------------------------------------------------------------------------
# TFLite interpreters: ai-edge-litert and the legacy tflite-runtime expose the same Interpreter class.


class InterpreterSession(Session):
    """A session on a TFLite `Interpreter` (ai-edge-litert or tflite-runtime)."""

    def __init__(self, path: str, interpreter: Any, runtime: str):
        self.runtime = runtime
        self._interpreter = interpreter
        in_details = interpreter.get_input_details()
        out_details = interpreter.get_output_details()
        self._input_indices = [d["index"] for d in in_details]
        self._output_indices = [d["index"] for d in out_details]
        names = _signature_names(interpreter)
        super().__init__(path, [_tflite_info(d, names) for d in in_details],
                         [_tflite_info(d, names) for d in out_details])

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


def _signature_names(interpreter: Any) -> dict[int, str]:
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


def _tflite_info(details: dict, names: dict[int, str]) -> TensorInfo:
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

    formats = (".tflite",)
    options = {"xnnpack": True}
    module: ClassVar[str] = ""
    package: ClassVar[str] = ""

    def check(self) -> None:
        _import_module(self.module, self.package)

    def _open(self, path: str, threads: int | None, options: dict[str, Any]) -> Session:
        from ._tf import _native_stderr_silenced

        mod = _import_module(self.module, self.package)
        kwargs: dict[str, Any] = {"model_path": path, "num_threads": threads}
        if not options["xnnpack"]:
            kwargs["experimental_op_resolver_type"] = mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        # The interpreter prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on descriptor 2 for
        # every model; errors still arrive as Python exceptions.
        with _native_stderr_silenced():
            interpreter = mod.Interpreter(**kwargs)
            interpreter.allocate_tensors()
        return InterpreterSession(path, interpreter, self.name)


class LiteRTRuntime(InterpreterRuntime):
    """Google's LiteRT (ai-edge-litert), the successor of tflite-runtime; XNNPACK on by default."""

    name = "litert"
    module = "ai_edge_litert.interpreter"
    package = "ai-edge-litert"


class TFLiteRuntime(InterpreterRuntime):
    """The legacy tflite-runtime package (no releases for numpy 2 or recent Pythons)."""

    name = "tflite-runtime"
    module = "tflite_runtime.interpreter"
    package = "tflite-runtime"


# ---------------------------------------------------------------------------------------------------------------
# LiteRT's GPU accelerator: a CompiledModel on WebGPU (Google's Dawn) over Vulkan on Linux, with XNNPACK taking
# whatever op the GPU cannot. Without a GPU, Mesa's lavapipe (software Vulkan, Mesa >= 25) is the device: it runs
# the same GPU kernels, so parity and labelling can be tested on any machine, but its latency is CPU emulation.

# Adapter names of software rasterizers: Mesa's llvmpipe/lavapipe and softpipe, Google's SwiftShader.
_SOFTWARE_ADAPTER = re.compile(r"llvmpipe|lavapipe|softpipe|swiftshader", re.IGNORECASE)

# What LiteRT logs when it creates its WebGPU environment, naming the adapter Dawn picked: "Selected adapter:
# llvmpipe (LLVM 15.0.6, 256 bits), arch=software, vendor=mesa, backend=Vulkan, adapterType=CPU / Software".
_SELECTED_ADAPTER = re.compile(r"Selected adapter: (?P<name>.*?), arch=(?P<arch>[^,\n]*), vendor=(?P<vendor>[^,\n]*), "
                               r"backend=(?P<backend>[^,\n]*), adapterType=(?P<type>[^\n]*)")

# The GPU accelerator libraries LiteRT's registry looks for beside libLiteRt.so on Linux.
_GPU_ACCELERATOR_LIBRARIES = ("libLiteRtWebGpuAccelerator.so", "libLiteRtGpuAccelerator.so")

# VkPhysicalDeviceFeatures members (by position in the struct) that Dawn refuses an adapter without. Mesa 22's
# lavapipe (Debian bookworm) fails here: Dawn logs "Vulkan shaderUniform*ArrayDynamicIndexing required.".
_DAWN_REQUIRED_FEATURES = {33: "shaderUniformBufferArrayDynamicIndexing", 34: "shaderSampledImageArrayDynamicIndexing",
                           35: "shaderStorageBufferArrayDynamicIndexing", 36: "shaderStorageImageArrayDynamicIndexing"}

# VkPhysicalDeviceType -> name, and the order of preference assumed for Dawn (LiteRT asks it for high performance);
# used only to name the adapter when LiteRT's log does not.
_VK_DEVICE_TYPES = {0: "other", 1: "integrated", 2: "discrete", 3: "virtual", 4: "cpu"}
_VK_PREFERENCE = ("discrete", "integrated", "virtual", "other", "cpu")

# Element types LiteRT's TensorBuffer can be written and read as.
_TENSOR_BUFFER_DTYPES = ("float32", "float16", "int32", "int8", "uint8", "bool")

_INSTALL_HINT = "a GPU-less Debian machine needs mesa-vulkan-drivers >= 25 (bookworm: bash .ci/gpu-setup.sh)"

# Why LiteRT could not create its GPU environment in this process, once a load has found out: the environment is
# not per model, so later checks answer with it instead of paying for another failed start.
_GPU_FAILURE: list[str] = []


@dataclass(frozen=True)
class VulkanDevice:
    """A Vulkan physical device as the Vulkan loader lists it.

    `kind` is "discrete", "integrated", "virtual", "cpu" (a software rasterizer) or "other"; `driver` is the driver's
    own description (e.g. "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)"), "" when the device predates Vulkan 1.2; `missing`
    lists the Vulkan features Dawn requires that the device lacks.
    """

    name: str
    kind: str
    api_version: str
    driver: str
    missing: tuple[str, ...]

    @property
    def software(self) -> bool:
        """True for a CPU implementation of Vulkan (lavapipe, SwiftShader)."""
        return self.kind == "cpu" or bool(_SOFTWARE_ADAPTER.search(self.name))


@functools.lru_cache(maxsize=1)
def vulkan_devices() -> tuple[tuple[VulkanDevice, ...], str]:
    """The Vulkan devices of this machine, asked of the Vulkan loader itself (libvulkan.so.1, through ctypes).

    Returns (devices, "") or ((), one-line reason) when there is no loader, no driver or no device. Cached: the
    answer does not change while the process runs. This is what Dawn, under LiteRT, enumerates too; asking first
    turns "No adapters found" into a reason, and needs neither vulkan-tools nor a GPU context.
    """
    import ctypes

    _preload_lavapipe()  # before the loader opens the drivers: see there
    try:
        vk = ctypes.CDLL("libvulkan.so.1")
    except OSError:
        return (), f"no Vulkan loader (libvulkan.so.1 is not installed); {_INSTALL_HINT}"

    c_u32, c_ptr = ctypes.c_uint32, ctypes.c_void_p

    class InstanceCreateInfo(ctypes.Structure):
        _fields_ = [("sType", c_u32), ("pNext", c_ptr), ("flags", c_u32), ("pApplicationInfo", c_ptr),
                    ("enabledLayerCount", c_u32), ("ppEnabledLayerNames", c_ptr),
                    ("enabledExtensionCount", c_u32), ("ppEnabledExtensionNames", c_ptr)]

    class ApplicationInfo(ctypes.Structure):
        _fields_ = [("sType", c_u32), ("pNext", c_ptr), ("pApplicationName", ctypes.c_char_p),
                    ("applicationVersion", c_u32), ("pEngineName", ctypes.c_char_p), ("engineVersion", c_u32),
                    ("apiVersion", c_u32)]

    class DeviceProperties(ctypes.Structure):
        # The members read here, then room for the rest of VkPhysicalDeviceProperties (824 bytes in all).
        _fields_ = [("apiVersion", c_u32), ("driverVersion", c_u32), ("vendorID", c_u32), ("deviceID", c_u32),
                    ("deviceType", c_u32), ("deviceName", ctypes.c_char * 256), ("rest", ctypes.c_ubyte * 1024)]

    class DriverProperties(ctypes.Structure):
        _fields_ = [("sType", c_u32), ("pNext", c_ptr), ("driverID", c_u32), ("driverName", ctypes.c_char * 256),
                    ("driverInfo", ctypes.c_char * 256), ("conformanceVersion", ctypes.c_ubyte * 4)]

    class DeviceProperties2(ctypes.Structure):
        _fields_ = [("sType", c_u32), ("pNext", c_ptr), ("properties", DeviceProperties)]

    def version(v: int) -> str:
        return f"{(v >> 22) & 0x7F}.{(v >> 12) & 0x3FF}.{v & 0xFFF}"

    # Vulkan 1.1 for vkGetPhysicalDeviceProperties2 (the driver's description), when the loader has it.
    api = 1 << 22
    loader_version = c_u32(api)
    if hasattr(vk, "vkEnumerateInstanceVersion") and vk.vkEnumerateInstanceVersion(ctypes.byref(loader_version)) == 0:
        api = min(loader_version.value, (1 << 22) | (1 << 12))
    app = ApplicationInfo(sType=0, pApplicationName=b"edgebb", pEngineName=b"edgebb", apiVersion=api)
    info = InstanceCreateInfo(sType=1, pApplicationInfo=ctypes.cast(ctypes.pointer(app), c_ptr))
    instance = c_ptr()
    result = vk.vkCreateInstance(ctypes.byref(info), None, ctypes.byref(instance))
    if result == -9:  # VK_ERROR_INCOMPATIBLE_DRIVER: the loader found no driver (ICD) at all
        return (), f"no Vulkan driver: the Vulkan loader finds no ICD; {_INSTALL_HINT}"
    if result != 0:
        return (), f"Vulkan instance creation failed (VkResult {result})"
    try:
        count = c_u32(0)
        vk.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), None)
        handles = (c_ptr * count.value)()
        if count.value:
            vk.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), handles)
        properties2 = getattr(vk, "vkGetPhysicalDeviceProperties2", None) if api > 1 << 22 else None
        devices = []
        for handle in handles[: count.value]:
            props = DeviceProperties()
            vk.vkGetPhysicalDeviceProperties(c_ptr(handle), ctypes.byref(props))
            features = (c_u32 * 64)()  # VkPhysicalDeviceFeatures: 55 VkBool32
            vk.vkGetPhysicalDeviceFeatures(c_ptr(handle), ctypes.byref(features))
            driver = ""
            if properties2 is not None and props.apiVersion >= (1 << 22) | (2 << 12):
                # VkPhysicalDeviceDriverProperties is core from Vulkan 1.2; asking an older device is invalid.
                drv = DriverProperties(sType=1000196000)
                props2 = DeviceProperties2(sType=1000059001, pNext=ctypes.cast(ctypes.pointer(drv), c_ptr))
                properties2(c_ptr(handle), ctypes.byref(props2))
                driver = drv.driverInfo.decode(errors="replace")
            devices.append(VulkanDevice(
                name=props.deviceName.decode(errors="replace"), kind=_VK_DEVICE_TYPES.get(props.deviceType, "other"),
                api_version=version(props.apiVersion), driver=driver,
                missing=tuple(name for index, name in _DAWN_REQUIRED_FEATURES.items() if not features[index])))
    finally:
        vk.vkDestroyInstance(instance, None)
    if not devices:
        return (), f"no Vulkan device: the Vulkan loader lists none; {_INSTALL_HINT}"
    return tuple(devices), ""


def _vulkan_icd_manifests() -> list[str]:
    """The Vulkan driver manifests (ICD .json files) the Vulkan loader reads, in the loader's search order."""
    env = os.environ
    listed = env.get("VK_DRIVER_FILES") or env.get("VK_ICD_FILENAMES")
    if listed:
        places = listed.split(os.pathsep)
    else:
        home = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
        places = [os.path.join(d, "vulkan", "icd.d") for d in
                  [*(env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep), "/etc", home,
                   *(env.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(os.pathsep)]]
    places += [p for p in env.get("VK_ADD_DRIVER_FILES", "").split(os.pathsep) if p]
    found = []
    for place in places:
        if os.path.isdir(place):
            found += sorted(os.path.join(place, f) for f in os.listdir(place) if f.endswith(".json"))
        elif place.endswith(".json") and os.path.isfile(place):
            found.append(place)
    return found


@functools.lru_cache(maxsize=1)
def _preload_lavapipe() -> list[str]:
    """Load Mesa's lavapipe driver with RTLD_DEEPBIND before the Vulkan loader opens it; returns what was loaded.

    TensorFlow loads its libraries RTLD_GLOBAL and exports the LLVM it embeds (libtensorflow_framework.so.2 defines
    12,000 llvm:: symbols). Lavapipe compiles shaders with the system's libLLVM; opened the usual way in a process
    that has imported TensorFlow, its LLVM calls bind to TensorFlow's LLVM of another version, and LiteRT's first
    vkCreateDevice crashes the process (seen with TensorFlow 2.21 and Mesa 25.0.7). Bound deep, lavapipe and the
    libLLVM it brings resolve their symbols in their own dependencies first, whatever the process loads before or
    after; the loader's own dlopen of the same library later returns this copy. Other drivers are left alone."""
    import ctypes
    import json

    loaded: list[str] = []
    if not hasattr(os, "RTLD_DEEPBIND"):  # glibc's; lavapipe elsewhere is not this module's business
        return loaded
    for manifest in _vulkan_icd_manifests():
        try:
            with open(manifest) as f:
                library = json.load(f)["ICD"]["library_path"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not os.path.basename(library).startswith("libvulkan_lvp"):
            continue
        if "/" in library and not os.path.isabs(library):  # relative paths are relative to the manifest
            library = os.path.join(os.path.dirname(manifest), library)
        try:
            ctypes.CDLL(library, mode=os.RTLD_LAZY | os.RTLD_DEEPBIND)
            loaded.append(library)
        except OSError:
            continue  # a stale manifest: the loader will skip it as well
    return loaded


def _usable_vulkan_device() -> VulkanDevice:
    """The device Dawn would pick: the first, in its order of preference, that has what Dawn requires.
    Raises RuntimeUnavailable saying why there is none."""
    devices, reason = vulkan_devices()
    if not devices:
        raise RuntimeUnavailable(reason)
    usable = [d for d in devices if not d.missing]
    if not usable:
        d = devices[0]
        described = f"{d.name}, {d.driver}" if d.driver else d.name
        raise RuntimeUnavailable(f"Vulkan device {described} lacks {', '.join(d.missing)}, which LiteRT's WebGPU "
                                 f"(Dawn) requires; {_INSTALL_HINT}")
    return min(usable, key=lambda d: _VK_PREFERENCE.index(d.kind))


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


@contextlib.contextmanager
def _native_output_captured(log: list[str]):
    """Point descriptors 1 and 2 at a temporary file for the block and append what native code wrote to `log`.

    LiteRT reports which adapter it picked, and why a GPU start failed, only in its native log (its exceptions name
    source lines), and it prints some notices ("Failed to load OpenCL library") on stdout, where they would corrupt
    a command's output. EDGEBB_DEBUG=1 passes the text on to stderr as well."""
    import ctypes

    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    sys.stderr.flush()
    libc.fflush(None)  # what native code printed before the block belongs to the terminal, not to `log`
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 1)
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            libc.fflush(None)  # C stdio buffers stdout when it is not a terminal: empty it into the capture
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
            capture.seek(0)
            text = capture.read().decode(errors="replace")
            log.append(text)
            if os.environ.get("EDGEBB_DEBUG"):
                sys.stderr.write(text)


def _ensure_xdg_runtime_dir() -> None:
    """Set XDG_RUNTIME_DIR to a private directory when it is unset (CI jobs, containers, cron: no login session).

    LiteRT 2.3.0 on Mesa 25.0.7's lavapipe was seen to run without it, but setups of LiteRT's WebGPU on lavapipe
    call for it: of the libraries the GPU path loads, libwayland-client (pulled in by Mesa's Vulkan window-system
    code) reads it to find a compositor's socket, and prints "error: XDG_RUNTIME_DIR is invalid or not set" when it
    must look and cannot. An empty directory, mode 0700 as the XDG spec requires, answers that lookup at no cost;
    it is removed at exit. A value that is set is left alone."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    path = tempfile.mkdtemp(prefix="edgebb-xdg-")  # mkdtemp creates it 0700, owned by this user
    os.environ["XDG_RUNTIME_DIR"] = path
    atexit.register(shutil.rmtree, path, True)


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
            from ._tf import _native_stderr_silenced

            with _native_stderr_silenced():  # LiteRT logs every accelerator it tears down
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
    formats = (".tflite",)
    options = {"enforce_f32": False}

    def check(self) -> None:
        if _GPU_FAILURE:
            raise RuntimeUnavailable(_GPU_FAILURE[0])
        _import_module("ai_edge_litert", "ai-edge-litert")
        version = versions().get("ai-edge-litert", "?")
        if importlib.util.find_spec("ai_edge_litert.compiled_model") is None:
            raise RuntimeUnavailable(f"ai-edge-litert {version} has no CompiledModel, LiteRT's GPU API "
                                     "(pip install -U ai-edge-litert)")
        mod = _import_module("ai_edge_litert.compiled_model", "ai-edge-litert")
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
        _usable_vulkan_device()

    def _open(self, path: str, threads: int | None, options: dict[str, Any]) -> Session:
        from ._tf import _native_stderr_silenced

        enforce_f32 = options["enforce_f32"]
        if not isinstance(enforce_f32, bool):
            raise InputError(f"litert-gpu option enforce_f32 must be True or False; received {enforce_f32!r}")
        interpreter_mod = _import_module("ai_edge_litert.interpreter", "ai-edge-litert")
        mod = _import_module("ai_edge_litert.compiled_model", "ai-edge-litert")
        # The Interpreter verifies the flatbuffer (CompiledModel crashes the process on a truncated file) and
        # knows each tensor's quantization, which CompiledModel's tensor details leave out.
        with _native_stderr_silenced():
            interpreter = interpreter_mod.Interpreter(model_path=path)
        details = {d["index"]: d for d in interpreter.get_input_details() + interpreter.get_output_details()}
        names = _signature_names(interpreter)
        for d in details.values():
            dtype = np.dtype(d["dtype"]).name
            if dtype not in _TENSOR_BUFFER_DTYPES:
                raise InputError(f"{path} has a {dtype} tensor ({d['name']}); litert-gpu moves only "
                                 f"{', '.join(_TENSOR_BUFFER_DTYPES)} tensors in and out of the GPU")
        del interpreter  # it holds a copy of the model; the CompiledModel below loads its own

        _ensure_xdg_runtime_dir()
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
            with _native_output_captured(log):
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
    return replace(_tflite_info(found, names), name=name, shape=shape)


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
            device = _usable_vulkan_device()
        except RuntimeUnavailable:
            return {}
        info = {"name": device.name, "type": device.kind, "backend": "Vulkan", "source": "vulkan"}
    else:
        return {}
    devices = vulkan_devices()[0] if sys.platform == "linux" else ()
    for device in devices:
        if device.name == info["name"] and device.driver:
            info["driver"] = device.driver
    return info


def _is_software(info: dict[str, str]) -> bool:
    """Whether an adapter is a software rasterizer: LiteRT says arch=software or adapterType=CPU, Vulkan says its
    type is cpu, or the name is one of the known software drivers."""
    return (info.get("arch", "").lower() == "software" or "cpu" in info.get("type", "").lower()
            or bool(_SOFTWARE_ADAPTER.search(info.get("name", ""))))


# ---------------------------------------------------------------------------------------------------------------
# ONNX Runtime

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
    formats = (".onnx",)
    options = {"provider": "CPUExecutionProvider"}

    def check(self) -> None:
        _import_module("onnxruntime", "onnxruntime")

    def _open(self, path: str, threads: int | None, options: dict[str, Any]) -> Session:
        ort = _import_module("onnxruntime", "onnxruntime")
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


# ---------------------------------------------------------------------------------------------------------------
# Keras (the float reference on the TensorFlow side)


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
    formats = (".keras", ".h5")

    def check(self) -> None:
        # Only whether the packages exist: importing TensorFlow takes seconds, so a broken install shows at load.
        for module, package in (("tensorflow", "tensorflow"), ("tf_keras", "tf_keras")):
            if importlib.util.find_spec(module) is None:
                raise RuntimeUnavailable(f"{package} is not installed (pip install 'edgebb[full]')")

    def _open(self, path: str, threads: int | None, options: dict[str, Any]) -> Session:
        from ._tf import load_tensorflow
        from .models import load_model

        tf = load_tensorflow()
        if threads is not None:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
            except RuntimeError:
                pass  # TensorFlow already started with its thread pools; the setting cannot change any more
        return KerasSession(path, load_model(path))


# ---------------------------------------------------------------------------------------------------------------
# The registry

RUNTIMES: dict[str, Runtime] = {}

# The runtime a file is loaded with when none is named.
_DEFAULT_FOR_SUFFIX = {".tflite": "litert", ".onnx": "onnxruntime", ".keras": "keras", ".h5": "keras"}

# Distribution names per runtime package; the first one installed is reported.
_DISTRIBUTIONS = {
    "ai-edge-litert": ("ai-edge-litert", "ai-edge-litert-nightly"),
    "tflite-runtime": ("tflite-runtime",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos"),
    "tf_keras": ("tf_keras",),
}


def register(runtime: Runtime) -> Runtime:
    """Add `runtime` to RUNTIMES under its name (replacing one of the same name); returns it."""
    RUNTIMES[runtime.name] = runtime
    return runtime


for _runtime in (LiteRTRuntime(), LiteRTGpuRuntime(), TFLiteRuntime(), OnnxRuntime(), KerasRuntime()):
    register(_runtime)


def get_runtime(name: str) -> Runtime:
    """The registered runtime called `name`. Raises InputError listing close matches for an unknown name."""
    try:
        return RUNTIMES[name]
    except KeyError:
        raise unknown_name("runtime", name, list(RUNTIMES)) from None


def runtime_for(path: str) -> Runtime:
    """The default runtime for a file, by its suffix: .tflite -> litert, .onnx -> onnxruntime, .keras/.h5 ->
    keras. Raises InputError naming the file for any other suffix."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    try:
        return get_runtime(_DEFAULT_FOR_SUFFIX[suffix])
    except KeyError:
        known = ", ".join(_DEFAULT_FOR_SUFFIX)
        raise InputError(f"no runtime for {path}: the suffix must be one of {known}") from None


def available(name: str) -> tuple[bool, str]:
    """Whether runtime `name` can run here: (True, "") or (False, one-line reason).

    Raises InputError for an unknown runtime name."""
    runtime = get_runtime(name)
    try:
        runtime.check()
    except RuntimeUnavailable as exc:
        return False, exc.reason
    return True, ""


def load_artifact(path: str, runtime: str | None = None, threads: int | None = None, **options) -> Session:
    """Load an exported model with `runtime` (by default the one `runtime_for(path)` picks).

    Args:
      threads: CPU threads for inference; None leaves the runtime's default.
      options: the runtime's own options, e.g. provider="CPUExecutionProvider" for onnxruntime.

    Returns an open Session (a context manager).

    Raises:
      InputError: unknown runtime or option, a file that is missing, empty, of the wrong kind, corrupt or
        truncated (one line naming the file).
      RuntimeUnavailable: the runtime is not installed or cannot import here.
    """
    rt = get_runtime(runtime) if runtime is not None else runtime_for(path)
    return rt.load(path, threads=threads, **options)


def versions() -> dict[str, str]:
    """Versions of the installed runtime packages (ai-edge-litert, tflite-runtime, onnxruntime, tensorflow,
    tf_keras), read from package metadata without importing them; packages that are not installed are left out."""
    found = {}
    for package, distributions in _DISTRIBUTIONS.items():
        for dist in distributions:
            try:
                found[package] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return found


# ---------------------------------------------------------------------------------------------------------------
# Helpers

_IMPORT_FAILURES: dict[str, str] = {}


def _import_module(module: str, package: str) -> Any:
    """Import a runtime's module, or raise RuntimeUnavailable saying whether it is missing or broken."""
    if module in _IMPORT_FAILURES:  # a failed import is not retried: it would print its noise again
        raise RuntimeUnavailable(_IMPORT_FAILURES[module])
    top = module.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise RuntimeUnavailable(f"{package} is not installed (pip install {package})")
    from ._tf import _native_stderr_silenced

    try:
        # A package built against numpy 1 prints a page-long notice before it fails; the reason below says it.
        with _native_stderr_silenced():
            return importlib.import_module(module)
    except Exception as exc:
        reason = f"{package} fails to import under numpy {np.__version__}: {first_line(exc)}"
        _IMPORT_FAILURES[module] = reason
        raise RuntimeUnavailable(reason) from exc


def _check_threads(threads: int | None) -> int | None:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads must be a positive integer; received {threads!r}")
    return threads

