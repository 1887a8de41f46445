"""Images as users have them (one subfolder per class), read and preprocessed without TensorFlow, and generated
sets for when there are none.

- `folders`: scan_folder, load_image, preprocess / normalize (the backbone's Preprocessing, applied outside the
  model), load_images, split (deterministic, stratified).
- `synth`: a learnable generated shapes set (`edgebb data synth`).
"""

from .folders import (
    IMAGE_EXTENSIONS,
    ImageFolder,
    ImageItem,
    LoadedImages,
    UnreadableImage,
    fingerprint,
    load_image,
    load_images,
    normalize,
    preprocess,
    preprocess_uint8,
    scan_folder,
    split,
    standardize,
)

__all__ = [
    "IMAGE_EXTENSIONS", "ImageFolder", "ImageItem", "LoadedImages", "UnreadableImage", "fingerprint", "load_image",
    "load_images", "normalize", "preprocess", "preprocess_uint8", "scan_folder", "split", "standardize",
]
