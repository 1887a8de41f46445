"""`edgebb convert`: a backbone or a saved Keras model to verified .tflite / .onnx artifacts and a manifest.

Every artifact is run in its own runtime (LiteRT for .tflite, ONNX Runtime for .onnx) beside the Keras float
model on held-out images, and its figures go into the manifest. Files are written atomically, so an error or
Ctrl-C never leaves a half-written artifact or manifest and never damages what OUT already held.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import __version__
from ._tf import quiet
from .errors import InputError
from .fsutil import check_can_create_dir, write_atomic
from .recipes import CALIB_METHODS, FORMATS, IO_DTYPES, RECIPES, Recipe, parse_list, plan
from .verify import Verification, compare

Progress = Callable[[str], None]
SUFFIX = {"tflite": ".tflite", "onnx": ".onnx"}
RANDOM_SAMPLES = 16


@dataclass
class Source:
    """The float model to convert and what travels with it into the manifest."""

    name: str
    model: Any
    config: dict
    preprocessing: Any  # edgebb.models.Preprocessing
    labels: list[str] | None
    macs: int
    params: int
    qat: bool = False  # a quantization-aware model (fake quantization inside): only int8-qat can be made from it


@dataclass
class EvalData:
    """Calibration and held-out evaluation inputs, already preprocessed for the model."""

    calib: np.ndarray
    eval_x: np.ndarray
    eval_labels: np.ndarray | None
    random_x: np.ndarray
    description: dict
    train_x: np.ndarray | None = None  # every non-evaluation image, for QAT fine-tuning (only when asked for)
    train_labels: np.ndarray | None = None


@dataclass
class Artifact:
    path: str
    format: str
    recipe: Recipe
    sha256: str
    size_bytes: int
    inputs: list
    outputs: list
    verification: Verification
    convert_seconds: float
    float_layers: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    qat: dict | None = None  # int8-qat: how the QAT model came about, and the artifact against it in Keras

    def to_dict(self, source: Source, root: str) -> dict:
        return {
            "path": os.path.relpath(self.path, root), "format": self.format, "recipe": self.recipe.name,
            "recipe_config": self.recipe.to_dict(), "options": self.options, "sha256": self.sha256,
            "size_bytes": self.size_bytes, "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs], "preprocessing": source.preprocessing.to_dict(),
            "labels": source.labels, "macs": source.macs, "params": source.params,
            "verification": self.verification.to_dict(), "float_layers": self.float_layers,
            "convert_seconds": round(self.convert_seconds, 3), **({"qat": self.qat} if self.qat else {}),
        }


@dataclass
class ConvertResult:
    """What `convert` produced: the artifacts with their verification, and where the manifest is."""

    out_dir: str
    manifest_path: str
    source: Source
    data: dict
    artifacts: list[Artifact]
    notes: list[str]
    manifest: dict

    @property
    def failed(self) -> list[Artifact]:
        """Artifacts that lost more accuracy than the budget allows."""
        return [a for a in self.artifacts if a.verification.passed is False]


# --------------------------------------------------------------------------------------------------- source


def resolve_source(source: str, *, width: float = 1.0, size: int = 224, classes: int | None = None,
                   weights: str | None = None, seed: int = 0, labels: list[str] | None = None) -> Source:
    """Build backbone `source`, or load the saved Keras model at path `source` with its edgebb metadata."""
    from ._tf import load_tensorflow
    from .modelmeta import read_meta
    from .models import create_model, get_spec, list_models, load_model, preprocessing_for
    from .profile import profile_model

    looks_like_path = os.path.sep in source or source.endswith((".keras", ".h5")) or os.path.exists(source)
    if not looks_like_path and source not in list_models():
        get_spec(source)  # raises with close matches
    load_tensorflow()
    import tf_keras as keras

    if not looks_like_path:
        keras.utils.set_random_seed(seed)  # random weights are part of what --seed pins down
        num_classes = classes or (len(labels) if labels else 1000)
        model = create_model(source, width=width, input_size=size, num_classes=num_classes, weights=weights)
        config = {"kind": "backbone", "backbone": source, "width": width, "input_size": size,
                  "num_classes": num_classes, "weights": weights or "random", "seed": seed}
        pp = preprocessing_for(source, size)
        # mobilenet_v2, mobilenet_v2_0.35, mobilenet_v2_0.35_160: width and size named only when not the default
        name = "_".join([source] + ([f"{width:g}"] if width != 1.0 else []) + ([str(size)] if size != 224 else []))
        labels = labels if labels and len(labels) == num_classes else None
    else:
        meta = read_meta(source) or {}
        if meta.get("qat"):
            from .qat import scope

            with scope():
                model = load_model(source)
        else:
            model = load_model(source)
        if len(model.inputs) != 1:
            raise InputError(f"{source}: edgebb converts single-input image models; this one has "
                             f"{len(model.inputs)} inputs")
        shape = tuple(model.input.shape[1:])
        if len(shape) != 3 or shape[-1] != 3 or shape[0] is None or shape[0] != shape[1]:
            raise InputError(f"{source}: the model input must be a fixed square RGB image (H, H, 3); "
                             f"it is {shape}")
        backbone = meta.get("backbone", {}).get("name")
        if "preprocessing" in meta:
            from .models.registry import Preprocessing

            p = meta["preprocessing"]
            pp = Preprocessing(size=shape[0], mean=tuple(p["mean"]), std=tuple(p["std"]),
                               crop_fraction=p.get("crop_fraction", 0.875),
                               channel_order=p.get("channel_order", "rgb"))
        elif backbone:
            pp = preprocessing_for(backbone, shape[0])
        else:
            raise InputError(f"{source} carries no edgebb preprocessing; save it with edgebb train, or "
                             "convert a backbone by name")
        labels = meta.get("labels") or labels
        config = {"kind": "file", "path": os.path.abspath(source), "sha256": _sha256_file(source),
                  "backbone": meta.get("backbone"), "input_size": shape[0], "qat": bool(meta.get("qat"))}
        name = os.path.splitext(os.path.basename(source.rstrip(os.sep)))[0]
        if meta.get("qat") and name.endswith("_qat"):
            name = name[:-4]  # model_qat.h5 -> model_int8-qat.tflite, beside model_int8.tflite from model.keras
        n_out = int(np.prod(model.output.shape[1:]))
        labels = labels if labels and len(labels) == n_out else None
    profile = profile_model(model)
    return Source(name=name, model=model, config=config, preprocessing=pp, labels=labels,
                  macs=profile.macs, params=profile.params_total, qat=bool(config.get("qat")))


# ----------------------------------------------------------------------------------------------------- data


def prepare_data(data_dir: str | None, pp, *, labels: list[str] | None, calib_samples: int, seed: int,
                 eval_fraction: float = 0.3, eval_samples: int = 100, train: bool = False,
                 progress: Progress | None = None) -> EvalData:
    """Calibration and evaluation inputs from the user's image folder, or from a generated set without one.

    The folder is split per class into a held-out evaluation part (`eval_fraction`) and the rest, from which
    `calib_samples` images are drawn for calibration; with `train`, all of the rest is loaded too, for
    quantization-aware fine-tuning (never the evaluation images).
    """
    from .data import load_images, scan_folder, split

    rng = np.random.default_rng(seed)
    random_x = _normalize(rng.uniform(0, 255, (RANDOM_SAMPLES, pp.size, pp.size, 3)).astype(np.float32), pp)
    with tempfile.TemporaryDirectory(prefix="edgebb-synth-") as tmp:
        if data_dir is None:
            from .synth import generate

            n_classes = 4
            per_class = -(-(calib_samples + eval_samples) // n_classes)
            _say(progress, f"no --data: generating a {n_classes}-class shapes set ({per_class} images per class) "
                           "for calibration and evaluation")
            generate(os.path.join(tmp, "synth"), classes=n_classes, per_class=per_class,
                     size=min(pp.size, 128), seed=seed)
            data_dir, synthetic = os.path.join(tmp, "synth"), True
        else:
            synthetic = False
        folder = scan_folder(data_dir)
        rest, eval_items = split(folder.items, eval_fraction, seed)
        order = rng.permutation(len(rest))[:calib_samples]
        calib_items = [rest[i] for i in sorted(order)]
        _say(progress, f"reading {len(calib_items)} calibration and {len(eval_items)} evaluation images "
                       + (f"({len(rest)} for fine-tuning) " if train else "")
                       + f"from {'a generated set' if synthetic else data_dir}")
        calib = load_images(calib_items, pp)
        held = load_images(eval_items, pp)
        tuning = load_images(rest, pp) if train else None
    aligned = labels is not None and list(folder.classes) == list(labels)
    description = {
        "kind": "synthetic" if synthetic else "folder", "path": None if synthetic else os.path.abspath(data_dir),
        "classes": list(folder.classes), "calibration_images": len(calib.labels), "evaluation_images":
        len(held.labels), "skipped_non_images": len(folder.skipped),
        "unreadable_images": len(calib.unreadable) + len(held.unreadable), "labels_match_model": aligned,
        "random_inputs": RANDOM_SAMPLES,
    }
    if synthetic:
        description["note"] = ("no --data given: figures describe a generated shapes set, not your task")
    if tuning is not None:
        description["fine_tuning_images"] = len(tuning.labels)
    return EvalData(calib=calib.x, eval_x=held.x, eval_labels=held.labels if aligned else None, random_x=random_x,
                    description=description, train_x=tuning.x if tuning else None,
                    train_labels=tuning.labels if tuning and aligned else None)


def _normalize(pixels: np.ndarray, pp) -> np.ndarray:
    x = pixels[..., ::-1] if pp.channel_order == "bgr" else pixels
    return ((x - np.array(pp.mean, np.float32)) / np.array(pp.std, np.float32)).astype(np.float32)


# ------------------------------------------------------------------------------------------------ exporters


def _tflite_setup_fp32(converter, tf, calib, io_dtype):
    pass


def _tflite_setup_fp16(converter, tf, calib, io_dtype):
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def _tflite_setup_dynamic(converter, tf, calib, io_dtype):
    converter.optimizations = [tf.lite.Optimize.DEFAULT]


def representative(calib):
    """The calibration images one at a time, as the TFLite converter and its QuantizationDebugger take them."""

    def dataset():
        for i in range(len(calib)):
            yield [calib[i:i + 1]]

    return dataset


def _tflite_setup_int8(converter, tf, calib, io_dtype):
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative(calib)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = getattr(tf, io_dtype)
    converter.inference_output_type = getattr(tf, io_dtype)


def _tflite_setup_int16x8(converter, tf, calib, io_dtype):
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative(calib)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]


# int8-qat converts a model with fake quantization inside: the converter takes its trained ranges and calibrates
# only what training left without one (the input, and tensors no quantizer follows).
TFLITE_SETUP = {"fp32": _tflite_setup_fp32, "fp16": _tflite_setup_fp16, "dynamic": _tflite_setup_dynamic,
                "int8": _tflite_setup_int8, "int16x8": _tflite_setup_int16x8, "int8-qat": _tflite_setup_int8}


def tflite_converter(model, recipe: Recipe, calib: np.ndarray, io_dtype: str = "float32"):
    """A TFLiteConverter for `model` set up for `recipe` (calibrated on `calib` where the recipe needs it)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    TFLITE_SETUP[recipe.name](converter, tf, calib, io_dtype)
    return converter


def export_tflite(model, recipe: Recipe, calib: np.ndarray, io_dtype: str) -> bytes:
    """The .tflite bytes of `model` under `recipe`. Raises InputError when the converter refuses a layer."""
    converter = tflite_converter(model, recipe, calib, io_dtype if _integer_io(recipe) else "float32")
    try:
        return converter.convert()
    except Exception as exc:
        reason = _converter_reason(exc)
        op = re.search(r"'tf\.(\w+)' op", reason) or re.search(r"op: '?(\w+)'?", reason)
        layers = _layers_with_op(model, op.group(1)) if op else []
        where = f" in layer {', '.join(layers)}" if layers else ""
        raise InputError(f"the TFLite converter cannot make {recipe.name} from {model.name}{where}: {reason}") from exc


def _integer_io(recipe: Recipe) -> bool:
    """Whether --io-dtype applies: full-integer recipes can take and give int8/uint8 tensors."""
    return recipe.activations == "int8"


def _converter_reason(exc: BaseException) -> str:
    """The most telling line of a converter error: the one naming the op or layer, else the first."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:
        if "error:" in ln and ("op" in ln or "layer" in ln or "quantiz" in ln):
            return ln[ln.index("error:") + 6:].strip()[:300]
    return (lines[0] if lines else type(exc).__name__)[:300]


def _layers_with_op(model, op_type: str) -> list[str]:
    """Names of the model's layers whose traced graph contains a TensorFlow op of `op_type` (e.g. "Erf").

    Only run on the error path: tracing every layer takes a few seconds on a large model.
    """
    import tensorflow as tf

    found = []
    for layer in model.layers:
        if isinstance(layer.input, list) or not layer.built or type(layer).__name__ == "InputLayer":
            continue
        try:
            graph = tf.function(layer.call).get_concrete_function(
                tf.TensorSpec(layer.input.shape, layer.input.dtype)).graph
        except Exception:
            continue
        if any(op.type == op_type for op in graph.get_operations()):
            found.append(layer.name)
    return found


def export_onnx_fp32(model, size: int, opset: int) -> bytes:
    """The float ONNX model from tf2onnx, with one input named "input" of shape (1, size, size, 3)."""
    import logging

    import tensorflow as tf
    import tf2onnx

    from .models.layers import onnx_export_mode

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    spec = (tf.TensorSpec((1, size, size, 3), tf.float32, name="input"),)
    try:
        with onnx_export_mode():
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
    except Exception as exc:
        raise InputError(f"tf2onnx cannot convert {model.name} at opset {opset}: {_converter_reason(exc)}") from exc
    return proto.SerializeToString()


def export_onnx_quantized(fp32: bytes, recipe: Recipe, calib: np.ndarray, calib_method: str) -> bytes:
    """ONNX Runtime quantization of the float model: QDQ static int8 on `calib`, or dynamic int8 weights."""
    from onnxruntime import quantization as q

    with tempfile.TemporaryDirectory(prefix="edgebb-onnx-") as tmp:
        src, pre, dst = (os.path.join(tmp, n) for n in ("fp32.onnx", "pre.onnx", "q.onnx"))
        with open(src, "wb") as f:
            f.write(fp32)
        if recipe.name == "dynamic":
            q.quantize_dynamic(src, dst, weight_type=q.QuantType.QInt8)
        else:
            # shape inference and graph clean-up let the quantizer cover more nodes (shapes are static here, so
            # the symbolic pass, which would need sympy, is skipped)
            q.quant_pre_process(src, pre, skip_symbolic_shape=True)
            methods = {"minmax": q.CalibrationMethod.MinMax, "entropy": q.CalibrationMethod.Entropy,
                       "percentile": q.CalibrationMethod.Percentile}
            q.quantize_static(pre, dst, _CalibrationReader(calib), quant_format=q.QuantFormat.QDQ,
                              per_channel=True, activation_type=q.QuantType.QInt8, weight_type=q.QuantType.QInt8,
                              calibrate_method=methods[calib_method])
        with open(dst, "rb") as f:
            return f.read()


class _CalibrationReader:
    """Feeds calibration images to ONNX Runtime's quantizer one at a time (it asks through get_next)."""

    def __init__(self, calib: np.ndarray):
        self._items = iter(range(len(calib)))
        self._calib = calib

    def get_next(self):
        i = next(self._items, None)
        return None if i is None else {"input": self._calib[i:i + 1]}

    def rewind(self):
        self._items = iter(range(len(self._calib)))


# -------------------------------------------------------------------------------------------------- convert


def convert(source: str, out_dir: str, data: str | None = None, *, recipes=("fp32", "int8"), formats=("tflite",),
            width: float = 1.0, size: int = 224, classes: int | None = None, weights: str | None = None,
            io_dtype: str = "int8", calib_samples: int = 200, calib_method: str = "minmax", opset: int = 17,
            seed: int = 0, max_drop: float = 1.0, auto_fallback: bool = False, eval_samples: int = 100,
            qat_epochs: int = 3, qat_lr: float = 1e-4, progress: Progress | None = None) -> ConvertResult:
    """Convert `source` (a backbone name or a saved Keras model) into verified artifacts in `out_dir`.

    Args:
      data: an image folder with one subfolder per class, split into calibration and held-out evaluation
        images; without it a generated shapes set stands in (and the manifest says so).
      recipes, formats: names from edgebb.recipes (e.g. "fp32", "int8") and ("tflite", "onnx").
      io_dtype: input/output type of int8 TFLite models: "int8", "uint8" or "float32".
      max_drop: top-1 points an artifact may lose against the float model (checked when labels exist).
      auto_fallback: when int8 TFLite breaks the budget, keep the layers with the largest quantization error
        in float, a few at a time, until it holds.
      qat_epochs, qat_lr: for int8-qat from a float model, the epochs and Adam learning rate of fine-tuning with
        fake quantization on the non-evaluation part of `data` (a model saved by `edgebb train --qat` is
        converted as it is).

    Returns a ConvertResult; artifacts that broke the budget are in `result.failed` (the CLI exits 1).
    Raises InputError for bad input: unknown names, bad options, missing or unreadable data, a corrupt model,
    an unwritable OUT, a layer the converter cannot handle.
    """
    recipes = parse_list(",".join(recipes) if not isinstance(recipes, str) else recipes, RECIPES, "recipe")
    formats = parse_list(",".join(formats) if not isinstance(formats, str) else formats, FORMATS, "format")
    _check_options(io_dtype, calib_samples, calib_method, opset, max_drop, eval_samples, qat_epochs, qat_lr)
    pairs, notes = plan(recipes, formats)
    check_can_create_dir(out_dir)  # created by the first artifact written, so bad input leaves nothing
    if data is not None and not os.path.isdir(data):
        raise InputError(f"data folder not found: {data}" if not os.path.exists(data)
                         else f"--data must be a folder of class subfolders: {data}")
    tune = _check_qat_plan(source, pairs, data)
    labels = None
    if data is not None:
        from .data import scan_folder

        labels = scan_folder(data).classes
    _say(progress, f"building {source}" if not os.path.exists(source) else f"loading {source}")
    src = resolve_source(source, width=width, size=size, classes=classes, weights=weights, seed=seed,
                         labels=labels)
    needs_calib = any(r.calibrated for r, _ in pairs)
    ev = prepare_data(data, src.preprocessing, labels=src.labels,
                      calib_samples=calib_samples if needs_calib else min(calib_samples, 64), seed=seed,
                      eval_samples=eval_samples, train=tune, progress=progress)
    if ev.description.get("note"):
        notes.append(ev.description["note"])
    if src.config.get("weights") == "random":
        from .models.weights import reestimate_batchnorm

        if reestimate_batchnorm(src.model, ev.calib):
            src.config["batchnorm_statistics"] = f"re-estimated on {min(len(ev.calib), 64)} calibration images"
            notes.append("random weights: BatchNorm statistics were re-estimated on the calibration images so the "
                         "float model's outputs are not flat (a random network's activations vanish otherwise)")
    if src.qat:
        notes.append("the source is a quantization-aware model: the int8 model is compared with it (fake-quantized, "
                     "in Keras), so 'float acc' is that model's accuracy")
    if ev.eval_labels is None and ev.description["kind"] == "folder":
        notes.append("the data's classes are not the model's outputs: accuracy and the --max-drop budget are not "
                     "checked; top-1 agreement with the float model is reported")
    _say(progress, f"float reference on {len(ev.eval_x)} evaluation and {len(ev.random_x)} random inputs")
    reference = src.model.predict(ev.eval_x, batch_size=32, verbose=0)
    random_reference = src.model.predict(ev.random_x, batch_size=32, verbose=0)
    qat = None
    if any(r.qat for r, _ in pairs):
        qat = _quantization_aware(src, ev, reference, tune, qat_epochs, qat_lr, seed, progress)

    artifacts: list[Artifact] = []
    cache: dict[str, bytes] = {}  # the float ONNX model, converted once and quantized per recipe
    for i, (recipe, fmt) in enumerate(pairs, start=1):
        target = os.path.join(out_dir, f"{src.name}_{recipe.name}{SUFFIX[fmt]}")
        _say(progress, f"[{i}/{len(pairs)}] {fmt} {recipe.name}: converting"
                       + (f" (calibrating on {len(ev.calib)} images)" if recipe.calibrated else ""))
        start = time.perf_counter()
        float_layers: list[str] = []
        with quiet():
            model = qat.model if recipe.qat else src.model
            content = _export(model, src.preprocessing.size, recipe, fmt, ev.calib, io_dtype, opset, calib_method,
                              cache)
        seconds = time.perf_counter() - start
        options = {"io_dtype": io_dtype if fmt == "tflite" and _integer_io(recipe) else "float32"}
        if recipe.calibrated:
            options["calibration_images"] = len(ev.calib)
        if fmt == "onnx":
            options["opset"] = opset
            if recipe.calibrated:
                options["calib_method"] = calib_method
        _say(progress, f"[{i}/{len(pairs)}] {fmt} {recipe.name}: verifying against the float model")
        verification, inputs, outputs, got = verify_content(content, fmt, ev, reference, random_reference,
                                                            max_drop)
        if (auto_fallback and fmt == "tflite" and recipe.name == "int8" and verification.passed is False):
            from .fallback import selective_int8

            content, verification, float_layers, inputs, outputs = selective_int8(
                src.model, ev, reference, random_reference, max_drop, progress=progress)
            options["io_dtype"] = "float32"  # the float layers inside need float input and output
        write_atomic(target, content)
        artifacts.append(Artifact(
            path=target, format=fmt, recipe=recipe, sha256=hashlib.sha256(content).hexdigest(),
            size_bytes=len(content), inputs=inputs, outputs=outputs, verification=verification,
            convert_seconds=seconds, float_layers=float_layers, options=options,
            qat=qat.describe(got, ev, max_drop) if recipe.qat else None,
        ))
    manifest = build_manifest(src, ev, artifacts, out_dir, seed, notes)
    manifest_path = os.path.join(out_dir, "manifest.json")
    if src.labels:
        write_atomic(os.path.join(out_dir, "labels.txt"), "\n".join(src.labels) + "\n")
    from .report import to_json

    write_atomic(manifest_path, to_json(manifest))
    return ConvertResult(out_dir=out_dir, manifest_path=manifest_path, source=src, data=ev.description,
                         artifacts=artifacts, notes=notes, manifest=manifest)


def _export(model, size: int, recipe: Recipe, fmt: str, calib, io_dtype: str, opset: int, calib_method: str,
            cache: dict[str, bytes]) -> bytes:
    if fmt == "tflite":
        return export_tflite(model, recipe, calib, io_dtype)
    if "onnx_fp32" not in cache:
        cache["onnx_fp32"] = export_onnx_fp32(model, size, opset)
    if recipe.name == "fp32":
        return cache["onnx_fp32"]
    return export_onnx_quantized(cache["onnx_fp32"], recipe, calib, calib_method)


def verify_content(content: bytes, fmt: str, ev: EvalData, reference: np.ndarray, random_reference: np.ndarray,
                   max_drop: float):
    """Run artifact bytes in their runtime on the evaluation and random inputs; (Verification, inputs, outputs,
    the artifact's outputs on the evaluation inputs)."""
    from .runtimes import load_artifact

    with tempfile.TemporaryDirectory(prefix="edgebb-verify-") as tmp:
        path = os.path.join(tmp, f"artifact{SUFFIX[fmt]}")
        with open(path, "wb") as f:
            f.write(content)
        with quiet(), load_artifact(path) as session:  # quiet: LiteRT announces its XNNPACK delegate on fd 2
            got = session.run(ev.eval_x)
            random_got = session.run(ev.random_x)
            inputs, outputs = session.inputs, session.outputs
    verification = compare(reference, got, ev.eval_labels, max_drop, random_reference, random_got)
    return verification, inputs, outputs, got


# ---------------------------------------------------------------------------------------- quantization-aware


@dataclass
class QuantizationAware:
    """The quantization-aware Keras model int8-qat converts, how it came about, and its evaluation outputs."""

    model: Any
    origin: dict
    outputs: np.ndarray

    def describe(self, got: np.ndarray, ev: EvalData, max_drop: float) -> dict:
        """The artifact against the QAT Keras model it was converted from: what QAT promised, what int8 kept."""
        keras_vs_tflite = compare(self.outputs, got, ev.eval_labels, max_drop)
        return {**self.origin, "keras_accuracy": keras_vs_tflite.reference_accuracy,
                "tflite_accuracy": keras_vs_tflite.accuracy,
                "top1_agreement_with_keras": keras_vs_tflite.top1_agreement,
                "max_abs_error_vs_keras": keras_vs_tflite.max_abs_error}


def _check_qat_plan(source: str, pairs: list[tuple[Recipe, str]], data: str | None) -> bool:
    """Whether int8-qat must fine-tune `source` first; InputError for a plan that cannot work, before any work."""
    from .modelmeta import read_meta

    is_qat = os.path.exists(source) and bool((read_meta(source) or {}).get("qat"))
    wants_qat = any(r.qat for r, _ in pairs)
    if is_qat:
        others = sorted({r.name for r, _ in pairs if not r.qat})
        if others:
            raise InputError(f"{source} is a quantization-aware model, which converts only with --recipe int8-qat; "
                             f"convert its float model for {', '.join(others)}")
        return False
    if wants_qat and data is None:
        raise InputError("--recipe int8-qat fine-tunes the float model with fake quantization first, which needs "
                         "labelled images: give --data (or convert a model saved by edgebb train --qat)")
    return wants_qat


def _quantization_aware(src: Source, ev: EvalData, reference: np.ndarray, tune: bool, epochs: int, lr: float,
                        seed: int, progress: Progress | None) -> QuantizationAware:
    """The source itself when it is a QAT model (`reference` holds its outputs); otherwise its QAT copy
    fine-tuned on the non-evaluation images."""
    if not tune:
        return QuantizationAware(src.model, {"from": "quantization-aware model"}, reference)
    if ev.train_labels is None:
        raise InputError(f"int8-qat fine-tunes {src.name} on --data, but the folder's classes "
                         f"({', '.join(ev.description['classes'])}) are not the model's outputs")
    import tf_keras as keras

    from .train import AUGMENTATIONS, fit_quantization_aware, make_dataset

    _say(progress, f"quantization-aware fine-tuning: {epochs} epoch(s) at lr {lr:g} on {len(ev.train_x)} images")
    log: list[dict] = []

    def on_epoch_end(epoch, logs):
        log.append({"epoch": epoch + 1, "loss": float(logs["loss"]), "accuracy": float(logs["accuracy"])})
        _say(progress, f"QAT epoch {epoch + 1}/{epochs}: loss {logs['loss']:.3f}, acc {logs['accuracy']:.3f}")

    keras.utils.set_random_seed(seed)
    with quiet():
        model = fit_quantization_aware(
            src.model, make_dataset(ev.train_x, ev.train_labels, 32, seed=seed, augment=AUGMENTATIONS), None,
            epochs=epochs, lr=lr, callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)])
    origin = {"from": "fine-tuned here", "epochs": epochs, "lr": lr, "images": len(ev.train_x), "log": log}
    return QuantizationAware(model, origin, model.predict(ev.eval_x, batch_size=32, verbose=0))


def build_manifest(src: Source, ev: EvalData, artifacts: list[Artifact], out_dir: str, seed: int,
                   notes: list[str]) -> dict:
    from .envinfo import package_versions
    from .runtimes import versions

    return {
        "schema": "edgebb.manifest/1",
        "edgebb": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": seed,
        "versions": package_versions(("tensorflow", "tf_keras", "tf2onnx", "onnx", "numpy")) | versions(),
        "source": src.config,
        "preprocessing": src.preprocessing.to_dict(),
        "labels": src.labels,
        "labels_file": "labels.txt" if src.labels else None,
        "data": ev.description,
        "notes": notes,
        "artifacts": [a.to_dict(src, out_dir) for a in artifacts],
    }


def _check_options(io_dtype, calib_samples, calib_method, opset, max_drop, eval_samples, qat_epochs, qat_lr):
    if io_dtype not in IO_DTYPES:
        raise InputError(f"--io-dtype must be one of {', '.join(IO_DTYPES)}; received {io_dtype}")
    if calib_method not in CALIB_METHODS:
        raise InputError(f"--calib-method must be one of {', '.join(CALIB_METHODS)}; received {calib_method}")
    if calib_samples < 1:
        raise InputError(f"--calib-samples must be at least 1; received {calib_samples}")
    if eval_samples < 1:
        raise InputError(f"evaluation samples must be at least 1; received {eval_samples}")
    if not 11 <= opset <= 21:
        raise InputError(f"--opset must be between 11 and 21; received {opset}")
    if max_drop < 0:
        raise InputError(f"--max-drop must be at least 0; received {max_drop}")
    if qat_epochs < 1:
        raise InputError(f"--qat-epochs must be at least 1; received {qat_epochs}")
    if not qat_lr > 0:
        raise InputError(f"--qat-lr must be positive; received {qat_lr}")


def _sha256_file(path: str) -> str | None:
    if os.path.isdir(path):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _say(progress: Progress | None, message: str) -> None:
    if progress:
        progress(message)
