"""Conversion: a float Keras model to verified .tflite / .onnx artifacts and their manifest.

    source (build a backbone / load a saved model) -> calibration (the data, split) -> exporters (one per
    format x recipe) -> verify (run each artifact against the float model) -> mixed_precision (--auto-fallback)
    -> manifest

`convert()` in `pipeline` runs the line; `ConvertOptions` says how.
"""

from .options import ConvertOptions
from .pipeline import ConvertResult, convert
from .recipes import RECIPES, Recipe, get_recipe

__all__ = ["RECIPES", "ConvertOptions", "ConvertResult", "Recipe", "convert", "get_recipe"]
