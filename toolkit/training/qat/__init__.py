"""Quantization-aware training for every backbone in the zoo.

tensorflow-model-optimization's default 8-bit registry covers convolutions, BatchNorm folding, ReLU/ReLU6,
swish, sigmoid, pooling, Add, Concatenate, Reshape and Permute, but rejects the layers that squeeze-excite,
hard-swish and ShuffleNet need: Multiply, and edgebb's HardSwish, HardSigmoid and ChannelSplit. Those get
QuantizeConfigs here, matching what the TFLite converter does for the same ops at inference: an 8-bit output
quantizer after hard-swish, hard-sigmoid and the excite multiply; nothing for the channel split (it keeps its
input's scale).

Two activations the library accepts are lowered by the converter into ops with an int8 tensor between or after
them that the library does not model, and are replaced here so that the fake-quantized graph is the converter's:
hard-sigmoid is ADD + ReLU6 then MUL by 1/6, with a trained 8-bit range on the tensor between; swish is LOGISTIC
then MUL, and the int8 LOGISTIC always outputs on a fixed grid of 1/256 (zero point -128) whatever its input, so
swish's gate and every sigmoid (squeeze-excite's gate in EfficientNet) are fake-quantized to that grid. Without
that, fed the same int8 input, 1-22% of each swish's output codes in an EfficientNet-B0 differed from the int8
model's (0-3% with it, where the integer MUL rounds a near-tie the other way), and every sigmoid was up to half a
step off; the differences compound layer after layer.

One default is replaced because it breaks the promise that QAT accuracy carries over to the int8 model: the
library quantizes a depthwise kernel (kh, kw, C, 1) "per axis" over its last axis, which has one entry, so the
whole kernel shares one scale. The converter then folds BatchNorm into that kernel and re-quantizes it per
channel, which rounds every weight again: the int8 model is not the model QAT trained, and on a small
MobileNetV3 a sixth of the top-1 predictions changed. Here depthwise kernels get one scale per channel; BatchNorm
folding multiplies each channel by a constant, which maps a per-channel grid exactly onto the converter's.
Everything else is left to the library's own registry and layout transforms.

And one starting point is replaced: every activation range starts at the library's [-6, 6] and moves towards
what it sees by 0.1% a step, so after the few hundred steps of a QAT fine-tune most ranges are still about
[-6, 6] (a hard-sigmoid gate in [0, 1] gets some 20 levels), and the converter takes those ranges as they are.
`calibrate_ranges` sets them from real activations first, as post-training calibration would; fine-tuning then
starts from the int8 model PTQ would give and improves on it.

For ONNX, `float_twin` takes the trained weights out of the QAT model into its float architecture, and ONNX
Runtime's quantizer writes them with 8-bit symmetric per-channel weights: the grid QAT trained on (BatchNorm
folding scales each channel by a constant, which maps a per-channel grid onto itself). Its activation ranges are
calibrated, not the trained ones.
"""

from .fit import fine_tune, fit_quantization_aware, quantization_aware
from .quantize import calibrate_ranges, quantize_model, scope
from .strip import float_twin

__all__ = ["calibrate_ranges", "fine_tune", "fit_quantization_aware", "float_twin", "quantization_aware",
           "quantize_model", "scope"]
