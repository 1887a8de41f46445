"""Inference runtimes behind one interface: load an exported artifact, run a batch, close.

>>> from edgebb.runtimes import load_artifact
>>> with load_artifact("mnv2_int8.tflite", threads=4) as session:
...     probs = session.run(batch)          # float32 in, float32 out, batch of any size

Runtimes live in the registry `RUNTIMES` (name -> instance), one module each: `litert` (LiteRT's interpreter on
CPU, and the legacy `tflite-runtime`), `litert-gpu` (LiteRT's GPU accelerator), `onnxruntime`, `openvino`, `keras` (the
float reference). Each owns its options and says why it cannot run here. No runtime library is imported by importing
this package: each is imported by the runtime that needs it, when it is first checked or loaded, so `edgebb bench`
on a device never imports TensorFlow.
"""

from __future__ import annotations

from ..core.formats import FORMATS, require_format
from ..core.registry import Registry
from ._vulkan import VulkanDevice
from .base import (
    DISTRIBUTIONS,
    Runtime,
    RuntimeUnavailable,
    Session,
    TensorInfo,
    dequantize,
    package_version,
    quantize,
)
from .keras import KerasRuntime
from .litert import LiteRTRuntime, TFLiteRuntime
from .litert_gpu import LiteRTGpuRuntime
from .onnxruntime import OnnxRuntime
from .openvino import OpenVinoRuntime

__all__ = [
    "RUNTIMES", "Runtime", "RuntimeUnavailable", "Session", "TensorInfo", "VulkanDevice", "available", "dequantize",
    "get_runtime", "load_artifact", "quantize", "register", "runtime_for", "status", "versions",
]

RUNTIMES: Registry[Runtime] = Registry("runtime")


def register(runtime: Runtime, *, replace: bool = False) -> Runtime:
    """Add `runtime` to RUNTIMES under its name; returns it."""
    return RUNTIMES.register(runtime, replace=replace)


for _runtime in (LiteRTRuntime(), LiteRTGpuRuntime(), TFLiteRuntime(), OnnxRuntime(), OpenVinoRuntime(),
                 KerasRuntime()):
    register(_runtime)


def get_runtime(name: str) -> Runtime:
    """The registered runtime called `name`. Raises InputError listing close matches for an unknown name."""
    return RUNTIMES.get(name)


def runtime_for(path: str) -> Runtime:
    """The default runtime for a file, by its format (.tflite -> litert, .onnx -> onnxruntime, .keras/.h5 ->
    keras). Raises InputError naming the file for any other suffix."""
    return get_runtime(require_format(path).default_runtime)


def runtimes_for_format(fmt: str) -> list[str]:
    """Names of the registered runtimes that load artifacts of format `fmt`."""
    FORMATS.get(fmt)
    return [name for name, runtime in RUNTIMES.items() if runtime.format == fmt]


def available(name: str) -> tuple[bool, str]:
    """Whether runtime `name` can run here: (True, "") or (False, one-line reason).

    Raises InputError for an unknown runtime name."""
    runtime = get_runtime(name)
    try:
        runtime.check()
    except RuntimeUnavailable as exc:
        return False, exc.reason
    return True, ""


def status(names: list[str] | None = None) -> list[dict]:
    """`edgebb runtimes`: for each of `names` (default: every registered runtime), what it reads and runs on, its
    package and version, whether it can run here or why not, and the software device it would run on here (a GPU
    runtime on lavapipe: its figures are emulated). InputError for an unknown name."""
    out = []
    for name in names or list(RUNTIMES):
        runtime = get_runtime(name)
        ok, reason = available(name)
        out.append({"runtime": name, "format": runtime.format, "target": runtime.target, "package": runtime.package,
                    "version": package_version(runtime.package) if runtime.package else None, "available": ok,
                    "reason": reason or None, "software": runtime.software_device() if ok else None})
    return out


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
    tf_keras, ...), read from package metadata without importing them; packages that are not installed are left
    out."""
    found = {package: package_version(package) for package in DISTRIBUTIONS}
    return {package: version for package, version in found.items() if version}
