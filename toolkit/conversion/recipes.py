"""Quantization recipes: small frozen records, looked up by name and written into the manifest beside every
artifact they produced.

| recipe    | weights  | activations | calibration | formats       |
| --------- | -------- | ----------- | ----------- | ------------- |
| fp32      | float32  | float32     | no          | tflite, onnx  |
| fp16      | float16  | float32     | no          | tflite        |
| dynamic   | int8     | float32     | no          | tflite, onnx  |
| int8      | int8/ch  | int8/tensor | yes         | tflite, onnx  |
| int16x8   | int8/ch  | int16       | yes         | tflite        |
| int8-qat  | int8/ch  | int8/tensor | QAT ranges  | tflite, onnx  |

Which formats a recipe can be made in is not stored here: it is whatever the exporter registry
(edgebb.conversion.exporters) holds a (format, recipe) exporter for.

int8-qat is full-integer int8 from a quantization-aware model: either one `edgebb train --qat` saved, or one
`edgebb convert` fine-tunes with fake quantization on --data first (--qat-epochs). In TFLite its ranges come
from training, not from calibration alone; in ONNX its trained weights are written on the 8-bit grid QAT trained
them for, and its activation ranges are calibrated (edgebb.training.qat).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..core.errors import InputError
from ..core.registry import Registry

IO_DTYPES = ("int8", "uint8", "float32")
CALIB_METHODS = ("minmax", "entropy", "percentile")
WEIGHT_BITS = ("auto", "8", "7")  # int8 ONNX weights: --onnx-weight-bits


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    weights: str
    activations: str
    calibrated: bool
    qat: bool = False

    @property
    def is_float(self) -> bool:
        """Whether the artifact computes what the float model computes (up to float rounding)."""
        return self.weights == self.activations == "float32"

    @property
    def integer_io(self) -> bool:
        """Whether --io-dtype applies: full-integer recipes can take and give int8/uint8 tensors."""
        return self.activations == "int8"

    @property
    def formats(self) -> tuple[str, ...]:
        """The formats an exporter is registered for."""
        from .exporters import formats_for

        return formats_for(self.name)

    def to_dict(self) -> dict:
        return {**asdict(self), "formats": list(self.formats)}


RECIPES: Registry[Recipe] = Registry("recipe")
for _recipe in (
    Recipe("fp32", "float32 everything", "float32", "float32", False),
    Recipe("fp16", "float16 weights, float32 compute", "float16", "float32", False),
    Recipe("dynamic", "int8 weights, activations quantized on the fly", "int8", "float32", False),
    Recipe("int8", "full-integer post-training quantization", "int8", "int8", True),
    Recipe("int16x8", "int16 activations, int8 weights", "int8", "int16", True),
    Recipe("int8-qat", "full-integer int8 after quantization-aware training", "int8", "int8", True, qat=True),
):
    RECIPES.register(_recipe)


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`; InputError listing close matches otherwise."""
    return RECIPES.get(name)


def plan(recipes: list[str], formats: list[str]) -> tuple[list[tuple[Recipe, str]], list[str]]:
    """The (recipe, format) pairs to produce, and a note for each requested pair that cannot be made.

    Raises InputError when a requested recipe can be made in none of the requested formats.
    """
    pairs, notes = [], []
    for name in recipes:
        recipe = get_recipe(name)
        possible = [f for f in formats if f in recipe.formats]
        if not possible:
            raise InputError(f"recipe {name} is not available for {', '.join(formats)} "
                             f"(it is for {', '.join(recipe.formats)})")
        pairs += [(recipe, f) for f in possible]
        notes += [f"{name} has no {f} form; skipped" for f in formats if f not in recipe.formats]
    return pairs, notes
