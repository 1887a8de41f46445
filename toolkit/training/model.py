"""The model side of training: a backbone with a new head, which of its blocks train in which phase, and the
BatchNorm momentum short fine-tunes need."""

from __future__ import annotations

from ..core.errors import InputError
from ..core.progress import Progress, as_progress

TRAIN_BN_MOMENTUM = 0.9  # Keras MobileNet's 0.999 needs thousands of steps before its moving statistics are usable


def _block_of(layer_name: str) -> str:
    """The block a layer belongs to by edgebb's naming: block12_expand_conv -> block12, conv4_block2_1_bn ->
    conv4_block2, stage3_unit2_... -> stage3_unit2, fire5_squeeze_conv -> fire5."""
    parts = layer_name.split("_")
    if parts[0].startswith(("conv", "stage")) and len(parts) > 1 and parts[1].startswith(("block", "unit")):
        return "_".join(parts[:2])
    return parts[0]


def set_trainable(model, trunk_layers: set[str], fine_tune_blocks: int | None) -> list[str]:
    """Freeze the trunk except its last `fine_tune_blocks` blocks (None: train all); BatchNorm layers in frozen
    blocks stay in inference mode. Returns the blocks left trainable."""
    blocks: list[str] = []
    for layer in model.layers:
        if layer.name in trunk_layers and layer.weights:
            block = _block_of(layer.name)
            if block not in blocks:
                blocks.append(block)
    open_blocks = set(blocks if fine_tune_blocks is None else blocks[len(blocks) - fine_tune_blocks:]
                      if fine_tune_blocks else [])
    for layer in model.layers:
        layer.trainable = layer.name not in trunk_layers or _block_of(layer.name) in open_blocks
    return [b for b in blocks if b in open_blocks]


def set_bn_momentum(model, momentum: float) -> None:
    import tf_keras as keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


def build_for_training(name: str, *, width: float, size: int, classes: int, weights: str | None, seed: int,
                       progress: Progress | None):
    """The backbone with a new head, and which weights it started from ("imagenet", a file, or "random")."""
    import tf_keras as keras

    from ..models import create_model, get_spec

    keras.utils.set_random_seed(seed)
    spec = get_spec(name)
    wanted = weights if weights != "auto" else ("imagenet" if spec.has_imagenet_at(width) else None)
    try:
        model = create_model(name, width=width, input_size=size, num_classes=classes, weights=wanted)
        start = wanted or "random"
    except InputError as exc:
        if weights != "auto":
            raise
        as_progress(progress).say(f"{exc}: training from random weights")
        model = create_model(name, width=width, input_size=size, num_classes=classes)
        start = "random"
    if start == "random" and weights == "auto" and not spec.has_imagenet_at(width):
        at = f" at width {width:g}" if spec.has_imagenet else ""
        as_progress(progress).say(f"{name} has no ImageNet weights{at}: training from random weights")
    return model, start



def trunk_layer_names(name: str, width: float, size: int) -> set[str]:
    from ..models import create_model

    return {layer.name for layer in create_model(name, width=width, input_size=size, include_top=False).layers}

