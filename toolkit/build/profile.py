"""Static profile of a built Keras model: parameters, MACs, weight bytes and activation memory, per layer.

MACs count the multiply-accumulates of convolutions, depthwise convolutions and dense layers, as the papers and
torchvision do; element-wise ops, pooling and normalization are left out. Weight bytes are for the deployed
model, with BatchNorm folded into the preceding convolution: float32 kernels and biases, or int8 kernels with
an int32 bias and a float32 scale per output channel. Peak activation memory walks the layers in execution order
at batch 1, keeping each tensor alive until its last consumer has run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class LayerProfile:
    name: str
    type: str
    output_shape: tuple
    activation_bytes: int
    params: int
    macs: int


@dataclass
class ModelProfile:
    """What `profile_model` measured; `to_dict` gives the JSON form `edgebb info --json` prints."""

    name: str
    params_total: int
    params_trainable: int
    macs: int
    weights_fp32_bytes: int
    weights_int8_bytes: int
    peak_activation_bytes: int
    input_shape: tuple
    output_shapes: list
    layers: list[LayerProfile] = field(default_factory=list)

    def to_dict(self, with_layers: bool = False) -> dict:
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["output_shapes"] = [list(s) for s in self.output_shapes]
        if with_layers:
            data["layers"] = [{**asdict(layer), "output_shape": list(layer.output_shape)} for layer in self.layers]
        else:
            data.pop("layers")
        return data


def _tensors(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _shape(t) -> tuple:
    return tuple(int(d) for d in t.shape[1:])


def _elements(t) -> int:
    return int(np.prod(_shape(t)))


def _kind(layer):
    """The layer that computes: itself, or the one a wrapper holds (a quantization-aware model's QuantizeWrapper
    around a Conv2D, whose MACs were counted as 0 and reached its artifacts' manifests so)."""
    import tf_keras as keras

    return layer.layer if isinstance(layer, keras.layers.Wrapper) else layer


def _macs(layer) -> int:
    """Multiply-accumulates of one layer at batch 1 (0 for layers without a kernel)."""
    import tf_keras as keras

    L = keras.layers
    kind = _kind(layer)
    out = _shape(layer.output) if not isinstance(layer.output, list) else None
    if isinstance(kind, L.DepthwiseConv2D):
        kh, kw = kind.kernel_size
        return out[0] * out[1] * out[2] * kh * kw
    if isinstance(kind, L.Conv2D):
        kh, kw = kind.kernel_size
        c_in = _shape(layer.input)[-1] // kind.groups
        return out[0] * out[1] * out[2] * kh * kw * c_in
    if isinstance(kind, L.Dense):
        return int(np.prod(out[:-1] or (1,))) * _shape(layer.input)[-1] * out[-1]
    return 0


def _deployed_kernel(layer) -> tuple[int, int]:
    """(kernel elements, output channels) of a layer that keeps weights after BatchNorm folding, else (0, 0)."""
    import tf_keras as keras

    kind = _kind(layer)
    if isinstance(kind, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)):
        # from its own kernel; a wrapper's inner layer may hold none (the wrapper keeps the variables)
        kernel = next((w for w in kind.weights if "kernel" in w.name),
                      next((w for w in layer.weights if "kernel" in w.name), None))
        return int(np.prod(kernel.shape)), int(_shape(layer.output)[-1])
    return 0, 0


def profile_model(model) -> ModelProfile:
    """Profile a built tf_keras functional model at batch 1."""
    rows: list[LayerProfile] = []
    fp32 = int8 = 0
    last_use: dict[int, int] = {}
    for i, layer in enumerate(model.layers):
        for t in _tensors(layer.input):
            last_use[id(t)] = i
    keep = {id(t) for t in _tensors(model.output)}
    live: dict[int, int] = {}
    peak = 0
    for i, layer in enumerate(model.layers):
        outputs = _tensors(layer.output)
        act = sum(_elements(t) * 4 for t in outputs)
        for t in outputs:
            live[id(t)] = _elements(t) * 4
        peak = max(peak, sum(live.values()))
        for t in _tensors(layer.input):
            if last_use.get(id(t)) == i and id(t) not in keep:
                live.pop(id(t), None)
        kernel, channels = _deployed_kernel(layer)
        fp32 += 4 * (kernel + channels)
        int8 += kernel + 8 * channels
        shape = _shape(outputs[0]) if len(outputs) == 1 else tuple(_shape(t) for t in outputs)
        rows.append(LayerProfile(name=layer.name, type=type(layer).__name__, output_shape=shape,
                                 activation_bytes=act, params=int(layer.count_params()), macs=_macs(layer)))
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return ModelProfile(
        name=model.name, params_total=int(model.count_params()), params_trainable=trainable,
        macs=sum(r.macs for r in rows), weights_fp32_bytes=fp32, weights_int8_bytes=int8,
        peak_activation_bytes=peak, input_shape=_shape(model.input),
        output_shapes=[_shape(t) for t in _tensors(model.output)], layers=rows,
    )
