"""The quantization-aware model int8-qat converts: the source itself when it is one, or a QAT copy of the float
source fine-tuned on the conversion's training images; and the checks that a plan with int8-qat can work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import InputError
from ..core.progress import Progress
from .calibration import EvalData
from .exporters import exporter_needs
from .options import ConvertOptions
from .recipes import Recipe
from .source import Source
from .verify import compare


@dataclass
class QuantizationAware:
    """The quantization-aware Keras model int8-qat converts, how it came about, and its evaluation outputs."""

    model: Any
    origin: dict
    outputs: np.ndarray

    def describe(self, got: np.ndarray, ev: EvalData, max_drop: float) -> dict:
        """The artifact against the QAT Keras model it was converted from: what QAT promised, what int8 kept."""
        keras_vs_int8 = compare(self.outputs, got, ev.eval_labels, max_drop)
        return {**self.origin, "keras_accuracy": keras_vs_int8.reference_accuracy,
                "int8_accuracy": keras_vs_int8.accuracy,
                "top1_agreement_with_keras": keras_vs_int8.top1_agreement,
                "max_abs_error_vs_keras": keras_vs_int8.max_abs_error}


def float_architecture(src: Source):
    """What makes a float model of the source's architecture, for int8-qat in ONNX: the backbone a QAT model's
    metadata names, or a copy of the float source the QAT model was fine-tuned from."""
    import tf_keras as keras

    from ..models import create_model
    from ..models.layers import CUSTOM_OBJECTS

    backbone = (src.meta or {}).get("backbone") or {}
    if src.qat:
        return lambda: create_model(backbone["name"], width=backbone["width"], input_size=backbone["input_size"],
                                    num_classes=backbone["num_classes"])

    def copy():
        with keras.utils.custom_object_scope(CUSTOM_OBJECTS):
            return keras.models.clone_model(src.model)

    return copy


def check_qat_plan(meta: dict | None, pairs: list[tuple[Recipe, str]], data: str | None, source: str) -> bool:
    """Whether int8-qat must fine-tune `source` first; InputError for a plan that cannot work, before any work."""
    is_qat = bool((meta or {}).get("qat"))
    wants_qat = any(r.qat for r, _ in pairs)
    if is_qat:
        backbone = (meta or {}).get("backbone") or {}
        if "float_architecture" in exporter_needs(pairs) and not {"name", "width", "input_size",
                                                           "num_classes"} <= set(backbone):
            raise InputError(f"{source}: int8-qat in ONNX takes the QAT model's weights into its float architecture, "
                             "and this model's metadata names no backbone to build it from; convert a model saved "
                             "by edgebb train --qat, or use --format tflite")
        others = sorted({r.name for r, _ in pairs if not r.qat})
        if others:
            raise InputError(f"{source} is a quantization-aware model, which converts only with --recipe int8-qat; "
                             f"convert its float model for {', '.join(others)}")
        return False
    if wants_qat and data is None:
        raise InputError("--recipe int8-qat fine-tunes the float model with fake quantization first, which needs "
                         "labelled images: give --data (or convert a model saved by edgebb train --qat)")
    return wants_qat


def quantization_aware(src: Source, ev: EvalData, reference: np.ndarray, tune: bool, opts: ConvertOptions,
                        progress: Progress | None) -> QuantizationAware:
    """The source itself when it is a QAT model (`reference` holds its outputs); otherwise its QAT copy
    fine-tuned on the non-evaluation images."""
    if not tune:
        return QuantizationAware(src.model, {"from": "quantization-aware model"}, reference)
    if ev.train_labels is None:
        raise InputError(f"int8-qat fine-tunes {src.name} on --data, but the folder's classes "
                         f"({', '.join(ev.description['classes'])}) are not the model's outputs")
    from ..training.qat import fine_tune

    trained = (src.meta or {}).get("edgebb_train") or {}
    model, origin = fine_tune(src.model, ev.train_x, ev.train_labels, epochs=opts.qat_epochs, lr=opts.qat_lr,
                              seed=opts.seed, augment=tuple(trained.get("augment") or ()), progress=progress)
    return QuantizationAware(model, origin, model.predict(ev.eval_x, batch_size=32, verbose=0))
