"""The float model inside a quantization-aware one: its trained weights without the fake quantization."""

from __future__ import annotations

from ...core.errors import InputError


def float_twin(qat_model, architecture):
    """`architecture` (a float Keras model with the layers `qat_model` wraps, as built before QAT) holding the
    QAT model's trained weights; returned for chaining.

    tensorflow-model-optimization wraps each layer `x` as `quant_x` and keeps its variables under the wrapper
    (`quant_x/kernel:0`), beside the quantizers' own (`kernel_min`, `output_max`, `optimizer_step`), which are
    left behind. Layers without weights (activations, which QAT may have swapped for the converter's lowering)
    need nothing. Raises InputError naming the first layer whose weights the QAT model does not hold.
    """
    wrappers = {layer.name: layer for layer in qat_model.layers}
    for layer in architecture.layers:
        if not layer.weights:
            continue
        wrapper = wrappers.get(f"quant_{layer.name}", wrappers.get(layer.name))
        held = {v.name: v for v in (wrapper.weights if wrapper is not None else [])}
        values = []
        for variable in layer.weights:
            trained = held.get(f"quant_{variable.name}", held.get(variable.name))
            if trained is None or tuple(trained.shape) != tuple(variable.shape):
                raise InputError(f"the quantization-aware model holds no weights for layer {layer.name} "
                                 f"({variable.name}, {tuple(variable.shape)}): it is not this architecture")
            values.append(trained.numpy())
        layer.set_weights(values)
    return architecture
