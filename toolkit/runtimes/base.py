"""The interface every runtime implements: a `Runtime` loads an artifact into a `Session`, which runs batches.

`Session.run` takes a float32 batch that is already normalized by the backbone's preprocessing and returns float32
outputs, quantizing the input and dequantizing the output itself when the model's own tensors are integer;
`Session.invoke_raw` runs one already-typed batch-1 input, so a benchmark times the runtime and nothing else.

A runtime owns its options (name -> default, checked at load), names the artifact `format` it loads and the
`target` it computes on ("cpu", "gpu"), and says in one line why it cannot run here (`RuntimeUnavailable`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from ..core.errors import EdgebbError, InputError, first_line, unknown_name
from ..core.formats import FORMATS

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
    """An inference engine. Subclasses set `name`, `format` (the artifact format it loads, a name in
    edgebb.core.formats.FORMATS), `target` (what it computes on: "cpu" or "gpu"), `package` (the distribution
    whose version describes it) and `options` (option name -> default), and implement `check` and `_open`."""

    name: ClassVar[str] = ""
    format: ClassVar[str] = ""
    target: ClassVar[str] = "cpu"
    package: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}
    # A runtime that loads the same artifacts, used in its place where this one cannot run (None: none).
    fallback: ClassVar[str | None] = None
    # Whether `profile` gives per-op times (through the runtime's own profiler).
    profiles: ClassVar[bool] = False

    def profile(self, path: str, x: np.ndarray, threads: int | None, folder: str, runs: int = 20) -> list[dict]:
        """Per-op-type time of `runs` inferences on one typed input `x`: rows of op, count (nodes per inference),
        ms per inference and share, slowest first. `folder` is for the profiler's trace files."""
        raise NotImplementedError(f"{self.name} offers no per-op profiler through its Python API")

    def check(self) -> None:
        """Raise RuntimeUnavailable with a one-line reason if this runtime cannot run here."""
        raise NotImplementedError

    def software_device(self) -> str | None:
        """The name of the software implementation of this runtime's target that it would run on here (a GPU
        runtime on a machine whose only GPU is a CPU rasterizer), known without loading a model, for a runtime
        that `check` passes; None where it computes on the hardware it names, or cannot tell before loading."""
        return None

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
        threads = check_threads(threads)
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
        fmt = FORMATS[self.format]
        if os.path.exists(path) and not path.lower().endswith(fmt.suffixes):
            raise InputError(f"runtime {self.name} loads {', '.join(fmt.suffixes)} files; received {path}")
        problem = fmt.problem(path)
        if problem:
            raise InputError(f"{problem}: {path}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

# ---------------------------------------------------------------------------------------------------------------
# Helpers for the runtime modules

IMPORT_FAILURES: dict[str, str] = {}


def import_module(module: str, package: str) -> Any:
    """Import a runtime's module, or raise RuntimeUnavailable saying whether it is missing or broken."""
    if module in IMPORT_FAILURES:  # a failed import is not retried: it would print its noise again
        raise RuntimeUnavailable(IMPORT_FAILURES[module])
    top = module.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise RuntimeUnavailable(f"{package} is not installed (pip install {package})")
    from ..core.native import stderr_silenced

    try:
        # A package built against numpy 1 prints a page-long notice before it fails; the reason below says it.
        with stderr_silenced():
            return importlib.import_module(module)
    except Exception as exc:
        interrupt = _interrupt_in(exc)
        if interrupt is not None:  # Ctrl-C or SIGTERM while the module initialised: not a broken package
            raise interrupt from None
        reason = f"{package} fails to import under numpy {np.__version__}: {first_line(exc)}"
        IMPORT_FAILURES[module] = reason
        raise RuntimeUnavailable(reason) from exc


def _interrupt_in(exc: BaseException) -> BaseException | None:
    """The KeyboardInterrupt (Ctrl-C, or edgebb's SIGTERM) an import failure was made of, if any: an extension
    module's initialisation turns one raised inside it into ImportError("initialization failed") with it as cause."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


# Distribution names per package; the first one installed is reported.
DISTRIBUTIONS = {
    "ai-edge-litert": ("ai-edge-litert", "ai-edge-litert-nightly"),
    "tflite-runtime": ("tflite-runtime",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"),
    "openvino": ("openvino", "openvino-nightly"),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos"),
    "tf_keras": ("tf_keras",),
}


def package_version(package: str) -> str | None:
    """The installed version of a runtime package (any of its distributions), read from package metadata without
    importing it; None when it is not installed."""
    import importlib.metadata

    for dist in DISTRIBUTIONS.get(package, (package,)):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def check_threads(threads: int | None) -> int | None:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads must be a positive integer; received {threads!r}")
    return threads

