"""Exporters, one per (format, recipe) pair: a float Keras model in, the artifact's bytes out.

The registry is the single statement of what can be made: a recipe's formats, `edgebb convert`'s plan and the
tests derived from it all read it. TFLite exporters live in `tflite`, ONNX ones in `onnx`; importing this package
imports neither TensorFlow nor ONNX Runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core.registry import Registry


@dataclass
class ExportContext:
    """What an exporter may need besides the model: calibration images (preprocessed), the input size, the
    options of the formats, and a cache shared by the exporters of one conversion (the float ONNX model is made
    once and quantized per recipe)."""

    size: int
    calib: np.ndarray
    io_dtype: str = "int8"
    opset: int = 17
    calib_method: str = "minmax"
    onnx_weight_bits: int = 8
    onnx_weight_bits_because: str = ""
    # int8-qat in ONNX: a float model of the QAT model's architecture, to take its trained weights into
    qat_architecture: Callable[[], Any] | None = None
    cache: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Exporter:
    format: str
    recipe: str
    export: Callable[[Any, ExportContext], bytes]
    # the artifact's options as the manifest records them, given the context
    describe: Callable[[ExportContext], dict] = lambda ctx: {}
    # what the runtime makes of the bytes (integer kernels, layers left in float), for the manifest; or None
    inspect: Callable[..., dict] | None = None
    # what the conversion must put in the context first: "weight_bits" (int8 ONNX weights, chosen per CPU) and
    # "float_architecture" (a float model to take a QAT model's weights into)
    needs: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return f"{self.format}:{self.recipe}"


EXPORTERS: Registry[Exporter] = Registry("exporter", key=lambda e: e.key)


def exporter(fmt: str, recipe: str, describe: Callable[[ExportContext], dict] | None = None,
             inspect: Callable[..., dict] | None = None, needs: tuple[str, ...] = ()):
    """Register the decorated function as the exporter of `recipe` in format `fmt`; `inspect(content, kept_float)`
    reports what the runtime makes of the bytes; `needs` names what the context must hold (Exporter.needs)."""

    def decorate(fn):
        EXPORTERS.register(Exporter(fmt, recipe, fn, describe or (lambda ctx: {}), inspect, frozenset(needs)))
        return fn

    return decorate


def get_exporter(fmt: str, recipe: str) -> Exporter:
    return EXPORTERS.get(f"{fmt}:{recipe}")


def exporter_needs(pairs) -> set[str]:
    """What the exporters of a plan's (recipe, format) pairs need in their context (Exporter.needs)."""
    return {need for recipe, fmt in pairs for need in get_exporter(fmt, recipe.name).needs}


def formats_for(recipe: str) -> tuple[str, ...]:
    """The formats `recipe` can be exported to, in registration order of the formats."""
    from ...core.formats import artifact_formats

    return tuple(f for f in artifact_formats() if f"{f}:{recipe}" in EXPORTERS)


from . import onnx, tflite  # noqa: E402,F401  (they register themselves)
