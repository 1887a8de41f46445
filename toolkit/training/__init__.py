"""Training: transfer learning on an image folder (`loop`), its data pipelines (`datasets`), the model's phases
(`model`), checkpoints and logs (`checkpoints`), and quantization-aware training (`qat`)."""

from .loop import TrainResult, train
from .options import TrainOptions

__all__ = ["TrainOptions", "TrainResult", "train"]
