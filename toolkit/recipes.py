"""Quantization recipes: small frozen records, looked up by name and written into the manifest beside every
artifact they produced.

| recipe    | weights  | activations | calibration | formats       |
| --------- | -------- | ----------- | ----------- | ------------- |
| fp32      | float32  | float32     | no          | tflite, onnx  |
| fp16      | float16  | float32     | no          | tflite        |
| dynamic   | int8     | float32     | no          | tflite, onnx  |
| int8      | int8/ch  | int8/tensor | yes         | tflite, onnx  |
| int16x8   | int8/ch  | int16       | yes         | tflite        |
| int8-qat  | int8/ch  | int8/tensor | QAT ranges  | tflite        |

int8-qat is full-integer int8 from a quantization-aware model: either one `edgebb train --qat` saved, or one
`edgebb convert` fine-tunes with fake quantization on --data first (--qat-epochs). Its ranges come from
training, not from calibration alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import InputError, unknown_name

FORMATS = ("tflite", "onnx")
IO_DTYPES = ("int8", "uint8", "float32")
CALIB_METHODS = ("minmax", "entropy", "percentile")


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    weights: str
    activations: str
    calibrated: bool
    formats: tuple[str, ...]
    qat: bool = False

    def to_dict(self) -> dict:
        return {**asdict(self), "formats": list(self.formats)}


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("fp32", "float32 everything", "float32", "float32", False, FORMATS),
    Recipe("fp16", "float16 weights, float32 compute", "float16", "float32", False, ("tflite",)),
    Recipe("dynamic", "int8 weights, activations quantized on the fly", "int8", "float32", False, FORMATS),
    Recipe("int8", "full-integer post-training quantization", "int8", "int8", True, FORMATS),
    Recipe("int16x8", "int16 activations, int8 weights", "int8", "int16", True, ("tflite",)),
    Recipe("int8-qat", "full-integer int8 after quantization-aware training", "int8", "int8", True, ("tflite",),
           qat=True),
)}


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`; InputError listing close matches otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise unknown_name("recipe", name, list(RECIPES)) from None


def parse_list(text: str, allowed, kind: str) -> list[str]:
    """Split a comma-separated option, check each item against `allowed`, keep order, drop repeats."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise InputError(f"no {kind} given")
    for item in items:
        if item not in allowed:
            raise unknown_name(kind, item, list(allowed))
    return list(dict.fromkeys(items))


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
