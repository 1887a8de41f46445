"""`ConvertOptions`: everything `edgebb convert` and `edgebb.convert()` take besides the source, the output folder
and the data, validated once with the one-line errors users see."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..core.checks import check_choice, check_int, check_number, parse_list
from ..core.errors import InputError, unknown_name
from ..core.formats import artifact_formats
from .recipes import CALIB_METHODS, IO_DTYPES, RECIPES, WEIGHT_BITS


@dataclass(frozen=True)
class ConvertOptions:
    """How to convert.

    recipes, formats: names from the recipe registry ("fp32", "int8", ...) and ("tflite", "onnx"); a
      comma-separated string is accepted too.
    io_dtype: input/output type of full-integer TFLite models: "int8", "uint8" or "float32".
    calib_samples: calibration images; eval_samples: evaluation images of a generated set (a folder's held-out
      part is used whole).
    max_drop: top-1 points an artifact may lose against the float model (checked when labels exist).
    min_agreement: the top-1 agreement with the float model an artifact must keep, in % (0 turns it off).
    onnx_weight_bits: "8" (TFLite's weight grid), "7" (for x86 CPUs without VNNI, where ONNX Runtime's kernels
      saturate on 8-bit weights) or "auto": 8 unless the converting machine is such a CPU.
    auto_fallback: when an int8 artifact breaks the budget, keep the layers with the largest quantization error
      in float, a few at a time, until it holds.
    qat_epochs, qat_lr: for int8-qat from a float model, the epochs and Adam learning rate of fine-tuning with
      fake quantization on the non-evaluation part of the data.
    width, size, classes, weights: how to build a backbone given by name (ignored for a model file).
    """

    recipes: tuple[str, ...] = ("fp32", "int8")
    formats: tuple[str, ...] = ("tflite",)
    width: float = 1.0
    size: int = 224
    classes: int | None = None
    weights: str | None = None
    io_dtype: str = "int8"
    calib_samples: int = 200
    calib_method: str = "minmax"
    onnx_weight_bits: str = "auto"
    opset: int = 17
    seed: int = 0
    max_drop: float = 1.0
    min_agreement: float = 90.0
    auto_fallback: bool = False
    eval_samples: int = 100
    qat_epochs: int = 3
    qat_lr: float = 1e-4

    def __post_init__(self):
        object.__setattr__(self, "recipes", tuple(parse_list(self.recipes, RECIPES, "recipe")))
        object.__setattr__(self, "formats", tuple(parse_list(self.formats, artifact_formats(), "format")))
        check_choice("--io-dtype", self.io_dtype, IO_DTYPES)
        check_choice("--calib-method", self.calib_method, CALIB_METHODS)
        object.__setattr__(self, "onnx_weight_bits", str(self.onnx_weight_bits))
        check_choice("--onnx-weight-bits", self.onnx_weight_bits, WEIGHT_BITS)
        check_int("--calib-samples", self.calib_samples, 1)
        check_int("evaluation samples", self.eval_samples, 1)
        check_int("--seed", self.seed, 0)
        if self.classes is not None:
            check_int("--classes", self.classes, 1)
        if not 11 <= check_int("--opset", self.opset) <= 21:
            raise InputError(f"--opset must be between 11 and 21; received {self.opset}")
        check_number("--max-drop", self.max_drop, 0)
        check_number("--min-agreement", self.min_agreement, 0, 100)
        check_int("--qat-epochs", self.qat_epochs, 1)
        check_number("--qat-lr", self.qat_lr, positive=True)

    def to_dict(self) -> dict:
        return {**asdict(self), "recipes": list(self.recipes), "formats": list(self.formats)}

    @classmethod
    def from_kwargs(cls, options: ConvertOptions | None, kwargs: dict) -> ConvertOptions:
        """`options` with `kwargs` applied on top (the Python API's keyword arguments); InputError for an
        unknown keyword."""
        known = {f.name for f in fields(cls)}
        for key in kwargs:
            if key not in known:
                raise unknown_name("convert option", key, sorted(known))
        return cls(**{**(asdict(options) if options else {}), **kwargs})
