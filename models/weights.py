"""keras.applications' models of the same architecture, and copying their weights into ours.

Our builders create weighted layers in the same order and with the same shapes as keras.applications, so weights
copy by position. keras.applications puts input rescaling and normalization inside MobileNetV3 and EfficientNet;
ours applies them outside the model (`preprocessing_for`), so those layers are skipped.
"""

from __future__ import annotations

import contextlib
import sys

import tf_keras as keras

from ..core.errors import InputError, first_line
from .registry import BackboneSpec, BuildConfig

# Options of each keras.applications constructor that our BuildConfig decides.
_APP_OPTIONS = {
    "MobileNet": lambda cfg: {"alpha": cfg.width},
    "MobileNetV2": lambda cfg: {"alpha": cfg.width},
    "MobileNetV3Small": lambda cfg: _v3_options(cfg),
    "MobileNetV3Large": lambda cfg: _v3_options(cfg),
    "EfficientNetB0": lambda cfg: {},
    "ResNet50": lambda cfg: {},
    "ResNet101": lambda cfg: {},
    "ResNet152": lambda cfg: {},
    "VGG16": lambda cfg: {},
    "VGG19": lambda cfg: {},
    "InceptionResNetV2": lambda cfg: {},
}
# Input sizes keras.applications has separate ImageNet weights for; other sizes use the 224 weights.
_WEIGHT_SIZES = {"MobileNet": (128, 160, 192, 224), "MobileNetV2": (96, 128, 160, 192, 224)}
# Classifiers that flatten a fixed-size map (VGG's fc1 takes 7x7x512) exist only at this input size.
_FLATTENED_TOP_SIZE = {"VGG16": 224, "VGG19": 224}
_PREPROCESSING_LAYERS = (keras.layers.Rescaling, keras.layers.Normalization)


def _v3_options(cfg: BuildConfig) -> dict:
    return {"alpha": cfg.width, "minimalistic": cfg.params["minimalistic"], "include_preprocessing": False}


def reference_model(spec: BackboneSpec, cfg: BuildConfig, weights: str | None = None,
                    include_top: bool | None = None, input_size: int | None = None):
    """The keras.applications model with the architecture of `spec` built as `cfg` (1000 classes with a top)."""
    if spec.keras_application is None:
        raise InputError(f"{spec.name} has no keras.applications counterpart")
    constructor = getattr(keras.applications, spec.keras_application)
    top = cfg.include_top and not cfg.features if include_top is None else include_top
    size = input_size or cfg.input_size
    return constructor(input_shape=(size, size, 3), include_top=top, weights=weights,
                       classes=1000 if top else cfg.num_classes, **_APP_OPTIONS[spec.keras_application](cfg))


def weighted_layers(model) -> list:
    """Layers that carry weights, in model order, without keras.applications' in-model preprocessing."""
    return [layer for layer in model.layers if layer.weights and not isinstance(layer, _PREPROCESSING_LAYERS)]


def copy_weights(source, target, *, allow_head_mismatch: bool = False) -> int:
    """Copy `source`'s weights into `target` layer by layer; returns how many layers were copied.

    `target` may have more layers at the end (a head `source` lacks). With `allow_head_mismatch`, the last
    weighted layer may differ in shape (a classifier for another number of classes) and is left as it is.
    Raises InputError when the architectures do not line up.
    """
    src, dst = weighted_layers(source), weighted_layers(target)
    if len(src) > len(dst):
        raise InputError(f"{source.name} has {len(src)} weighted layers, {target.name} only {len(dst)}")
    copied = 0
    for i, (a, b) in enumerate(zip(src, dst)):
        a_w, b_w = a.get_weights(), b.get_weights()
        if [w.shape for w in a_w] != [w.shape for w in b_w]:
            if allow_head_mismatch and i == len(src) - 1:
                break
            raise InputError(f"weights of {a.name} {[w.shape for w in a_w]} do not fit {b.name} "
                             f"{[w.shape for w in b_w]}")
        b.set_weights(a_w)
        copied += 1
    return copied


def load_imagenet(model, spec: BackboneSpec, cfg: BuildConfig) -> None:
    """Load keras.applications' ImageNet weights into `model` (downloaded once, then read from ~/.keras)."""
    top = cfg.include_top and not cfg.features
    top_size = _FLATTENED_TOP_SIZE.get(spec.keras_application)
    if top and top_size and cfg.input_size != top_size:
        raise InputError(f"{spec.name}'s ImageNet classifier needs {top_size}x{top_size} input (it flattens the last "
                         f"feature map); received {cfg.input_size}: use include_top=False or input_size={top_size}")
    sizes = _WEIGHT_SIZES.get(spec.keras_application, ())
    size = cfg.input_size if cfg.input_size in sizes else 224
    keras_says = _HeldAnnouncement(sys.stderr)
    try:
        with contextlib.redirect_stdout(keras_says):
            reference = reference_model(spec, cfg, weights="imagenet", include_top=top, input_size=size)
        keras_says.release()
    except InputError:
        raise
    except Exception as exc:  # no network and no cached file, a truncated download, ...
        if "URL fetch failure" in str(exc):  # keras' words for a download that could not start
            raise InputError(f"cannot load ImageNet weights for {spec.name}: they are not in ~/.keras/models and "
                             f"downloading them failed ({first_line(exc).rpartition(' -- ')[2] or 'no network?'})") \
                from exc
        raise InputError(f"cannot load ImageNet weights for {spec.name} (offline and not in ~/.keras/models?): "
                         f"{first_line(exc)}") from exc
    copy_weights(reference, model, allow_head_mismatch=cfg.num_classes != 1000)


class _HeldAnnouncement:
    """Keras' stdout while it fetches weights, passed on to `target` (stderr: it is progress, and stdout is where
    edgebb's results go), but for its first line, "Downloading data from URL", which Keras prints before it
    connects: held until more follows (the download's progress bar, once connected) or `release()`. Offline it is
    dropped, so the error that follows is edgebb's one line."""

    def __init__(self, target):
        self.target, self.held = target, None  # None: nothing written yet; "" once released

    def write(self, text: str) -> int:
        if self.held is None:
            self.held = text
            return len(text)
        self.release()
        return self.target.write(text)

    def release(self) -> None:
        if self.held:
            self.target.write(self.held)
        self.held = ""

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:  # Keras draws its progress bar in place on a terminal
        return self.target.isatty()


def reestimate_batchnorm(model, x, batch_size: int = 64, chunk: int = 16) -> int:
    """Set every BatchNorm layer's moving mean and variance to the statistics of its input on the first
    `batch_size` images of `x`.

    A backbone with random weights and BatchNorm at its initial statistics (mean 0, variance 1) shrinks its
    activations layer after layer until the softmax is flat (about 1e-10 at MobileNetV2's pooled features), so
    comparing an exported copy with it proves nothing. Forward passes in training mode give each BatchNorm the
    statistics of its actual input, as a trained network has: `chunk` images at a time, each pass weighted so the
    moving statistics end as the average over all of them (momentum k/(k+1) at the k-th pass). In chunks because
    oneDNN keeps buffers sized to the largest batch it ran: one 64-image pass through ResNet-50 at 224 left
    convert's process ~800 MB larger for good, 16 at a time ~270 MB. Returns the layers updated.
    """
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:  # VGG: the forward pass would change nothing, and it is 64 images through the whole network
        return 0
    momenta = [layer.momentum for layer in layers]
    x = x[:batch_size]
    try:
        for k, start in enumerate(range(0, len(x), chunk)):
            for layer in layers:
                layer.momentum = k / (k + 1)
            model(x[start:start + chunk], training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(layers)
