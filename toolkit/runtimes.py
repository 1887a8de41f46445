"""Inference runtimes behind one interface: load an exported artifact, run a batch, close.

Every runtime answers `check()` (raises RuntimeUnavailable with a one-line reason when it cannot run here) and
`load(path, threads, **options)`, which returns a `Session`. `Session.run` takes a float32 batch that is already
normalized by the backbone's preprocessing and returns float32 outputs, quantizing the input and dequantizing the
output itself when the model's own tensors are integer; `Session.invoke_raw` runs one already-typed batch-1 input,
so a benchmark times the runtime and nothing else.

>>> from edgebb.runtimes import load_artifact
>>> with load_artifact("mnv2_int8.tflite", threads=4) as session:
...     probs = session.run(batch)          # float32 in, float32 out, batch of any size

Runtimes live in `RUNTIMES` (name -> instance); `register` adds one (edgebb bench adds litert-gpu there). No
runtime library is imported by this module: each is imported by the runtime that needs it, when it is first
checked or loaded, so `edgebb bench` on a device never imports TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from .errors import EdgebbError, InputError, unknown_name

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
            raise InputError(f"cannot load {path} with {self.name}: {_first_line(exc)}") from exc

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


for _runtime in (LiteRTRuntime(), TFLiteRuntime(), OnnxRuntime(), KerasRuntime()):
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
        reason = f"{package} fails to import under numpy {np.__version__}: {_first_line(exc)}"
        _IMPORT_FAILURES[module] = reason
        raise RuntimeUnavailable(reason) from exc


def _check_threads(threads: int | None) -> int | None:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads must be a positive integer; received {threads!r}")
    return threads


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
