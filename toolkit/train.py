"""`edgebb train`: transfer learning and quantization-aware training on an image folder.

A backbone gets a new head for the folder's classes. With ImageNet weights the head is trained first with the
backbone frozen, then the top blocks are fine-tuned at a tenth of the learning rate; with random weights (no
ImageNet weights for the family, or none reachable offline) everything trains from the start, and the output
says so. Early stopping watches validation accuracy and the best model is what is saved, atomically at every
improvement, so Ctrl-C leaves the last good checkpoint. The saved .keras file carries the backbone config,
preprocessing and labels, so `edgebb convert model.keras` needs nothing else.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import InputError

Progress = Callable[[str], None]
AUGMENTATIONS = ("flip", "crop", "rotate", "color")
CALIBRATION_BATCHES = 8  # batches that set a QAT model's activation ranges before fine-tuning
TRAIN_BN_MOMENTUM = 0.9  # Keras MobileNet's 0.999 needs thousands of steps before its moving statistics are usable


@dataclass
class TrainResult:
    """What `train` produced: the saved model, its best validation accuracy and the per-epoch log."""

    path: str
    backbone: dict
    labels: list[str]
    weights: str
    best_val_accuracy: float
    epochs_run: int
    history: list[dict] = field(default_factory=list)
    qat: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------------------ data


def load_split(data: str, pp, *, val_data: str | None, val_split: float, seed: int, progress: Progress | None):
    """(train LoadedImages, val LoadedImages, class names) from the folder(s), with the problems users hit
    reported as one-line InputErrors: one class, too few images to split, a validation folder whose classes differ."""
    from .data import load_images, scan_folder, split

    folder = scan_folder(data)
    if len(folder.classes) < 2:
        raise InputError(f"{data} has {len(folder.classes)} class folder(s); training needs at least 2")
    counts = np.bincount([i.label for i in folder.items], minlength=len(folder.classes))
    if val_data is None:
        if counts.min() < 2:
            empty = folder.classes[int(counts.argmin())]
            raise InputError(f"class {empty!r} in {data} has {int(counts.min())} image(s); a validation split "
                             "needs at least 2 per class (or give --val-data)")
        train_items, val_items = split(folder.items, val_split, seed)
    else:
        other = scan_folder(val_data)
        if other.classes != folder.classes:
            raise InputError(f"--val-data classes {other.classes} differ from --data classes {folder.classes}")
        train_items, val_items = folder.items, other.items
    _say(progress, f"{folder.summary()}; {len(train_items)} for training, {len(val_items)} for validation")
    train = load_images(train_items, pp)
    val = load_images(val_items, pp)
    bad = train.unreadable + val.unreadable
    if bad:
        _say(progress, f"skipped {len(bad)} unreadable image(s), e.g. {bad[0]}")
    return train, val, folder.classes


def augmenter(kinds: tuple[str, ...], seed: int):
    """A tf.data map function applying the chosen augmentations to one normalized image (training only).

    flip: horizontal mirror; crop: a random resized crop of 60-100% of the area, aspect 3/4-4/3; rotate: up to
    +-15 degrees; color: brightness and contrast jitter of +-20%. None of them changes the class of a
    natural-image or shapes task (vertical flips would, for text or arrows, so they are not offered).
    """
    import tensorflow as tf

    def apply(image, label):
        size = tf.shape(image)[0]
        if "flip" in kinds:
            image = tf.image.random_flip_left_right(image, seed=seed)
        if "crop" in kinds:
            area = tf.random.uniform([], 0.6, 1.0, seed=seed)
            ratio = tf.exp(tf.random.uniform([], math.log(3 / 4), math.log(4 / 3), seed=seed))
            h = tf.minimum(tf.sqrt(area / ratio), 1.0)
            w = tf.minimum(tf.sqrt(area * ratio), 1.0)
            y0 = tf.random.uniform([], 0.0, 1.0 - h, seed=seed)
            x0 = tf.random.uniform([], 0.0, 1.0 - w, seed=seed)
            image = tf.image.crop_and_resize(image[None], [[y0, x0, y0 + h, x0 + w]], [0], [size, size])[0]
        if "rotate" in kinds:
            angle = tf.random.uniform([], -15.0, 15.0, seed=seed) * math.pi / 180
            c, s = tf.cos(angle), tf.sin(angle)
            centre = tf.cast(size, tf.float32) / 2
            transform = [c, -s, centre - c * centre + s * centre, s, c, centre - s * centre - c * centre, 0.0, 0.0]
            image = tf.raw_ops.ImageProjectiveTransformV3(
                images=image[None], transforms=tf.cast([transform], tf.float32), output_shape=[size, size],
                fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")[0]
        if "color" in kinds:
            image = image * tf.random.uniform([], 0.8, 1.2, seed=seed) + tf.random.uniform([], -0.2, 0.2, seed=seed)
        return image, label

    return apply


# ----------------------------------------------------------------------------------------------------- model


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


def _set_bn_momentum(model, momentum: float) -> None:
    import tf_keras as keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


def build_for_training(name: str, *, width: float, size: int, classes: int, weights: str | None, seed: int,
                       progress: Progress | None):
    """The backbone with a new head, and which weights it started from ("imagenet", a file, or "random")."""
    import tf_keras as keras

    from .models import create_model, get_spec

    keras.utils.set_random_seed(seed)
    spec = get_spec(name)
    wanted = weights if weights != "auto" else ("imagenet" if spec.has_imagenet else None)
    try:
        model = create_model(name, width=width, input_size=size, num_classes=classes, weights=wanted)
        start = wanted or "random"
    except InputError as exc:
        if weights != "auto":
            raise
        _say(progress, f"ImageNet weights for {name} are not available ({exc}); training from random weights")
        model = create_model(name, width=width, input_size=size, num_classes=classes)
        start = "random"
    if start == "random" and weights == "auto" and not spec.has_imagenet:
        _say(progress, f"{name} has no ImageNet weights: training from random weights")
    return model, start


# ---------------------------------------------------------------------------------------------------- saving


def save_checkpoint(model, path: str, meta: dict, qat: bool = False) -> None:
    """Save `model` with its edgebb metadata atomically: the old file stays until the new one is complete.
    A QAT model is saved as HDF5 (see `quantization_aware`)."""
    from ._tf import quiet
    from .fsutil import atomic_path
    from .modelmeta import write_meta

    with atomic_path(path) as tmp:
        if qat:
            from .qat import scope

            with scope(), quiet():  # quiet: Keras warns that HDF5 is a legacy format on every save
                model.save(tmp, save_format="h5")
        else:
            model.save(tmp)
        write_meta(tmp, meta)


def checkpoint_callback(*args):
    """A Keras callback that, after each epoch, logs it and saves the model when validation accuracy improved.

    Defined inside a function so that importing this module does not import TensorFlow.
    """
    import tf_keras as keras

    class Callback(keras.callbacks.Callback):
        def __init__(self, path, meta, log, phase, qat, progress, best, epoch_offset):
            super().__init__()
            self.path, self.meta, self.log, self.phase, self.qat = path, meta, log, phase, qat
            self.progress, self.best, self.epoch_offset = progress, best, epoch_offset
            self.started = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            row = {"epoch": self.epoch_offset + epoch + 1, "phase": self.phase,
                   "loss": float(logs.get("loss", float("nan"))), "accuracy": float(logs.get("accuracy", 0)),
                   "val_loss": float(logs.get("val_loss", float("nan"))),
                   "val_accuracy": float(logs.get("val_accuracy", 0)),
                   "lr": float(keras.backend.get_value(self.model.optimizer.learning_rate)),
                   "seconds": round(time.perf_counter() - self.started, 2)}
            improved = row["val_accuracy"] > self.best[0]
            if improved:
                self.best[0] = row["val_accuracy"]
                save_checkpoint(self.model, self.path, {**self.meta, "best_val_accuracy": row["val_accuracy"],
                                                        "epoch": row["epoch"]}, qat=self.qat)
            row["saved"] = improved
            self.log.append(row)
            _say(self.progress, f"epoch {row['epoch']} ({self.phase}): loss {row['loss']:.3f}, "
                                f"acc {row['accuracy']:.3f}, val acc {row['val_accuracy']:.3f}"
                                + (" -> saved" if improved else "") + f" [{row['seconds']:.1f} s]")

    return Callback(*args)


def write_logs(path: str, history: list[dict]) -> tuple[str, str]:
    """The training log beside the model: PATH.log.csv and PATH.log.json."""
    from .fsutil import write_atomic
    from .report import to_csv

    base = os.path.splitext(path)[0]
    columns = ["epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "saved"]
    write_atomic(base + ".log.csv", to_csv(history, columns))
    write_atomic(base + ".log.json", json.dumps(history, indent=2) + "\n")
    return base + ".log.csv", base + ".log.json"


# ----------------------------------------------------------------------------------------------------- train


def train(name: str, data: str, output: str, *, width: float = 1.0, size: int = 224, epochs: int = 10,
          batch_size: int = 32, lr: float = 1e-3, seed: int = 0, val_split: float = 0.2, val_data: str | None = None,
          fine_tune_blocks: int = 2, augment: tuple[str, ...] = AUGMENTATIONS, weights: str = "auto",
          patience: int = 5, qat: bool = False, qat_epochs: int = 3, resume: bool = False,
          progress: Progress | None = None) -> TrainResult:
    """Train backbone `name` on the image folder `data` and save the best model to `output` (.keras).

    Raises InputError for bad input: an unknown backbone, a folder with one class or too few images, bad
    options, a checkpoint to resume from that belongs to another backbone.
    """
    from .models import get_spec, preprocessing_for

    spec = get_spec(name)
    spec.check_width(width)
    spec.check_size(size)
    _check(output, epochs, batch_size, lr, val_split, fine_tune_blocks, augment, patience, qat_epochs)
    from ._tf import load_tensorflow

    load_tensorflow()
    import tf_keras as keras

    pp = preprocessing_for(name, size)
    train_set, val_set, labels = load_split(data, pp, val_data=val_data, val_split=val_split, seed=seed,
                                            progress=progress)
    backbone = {"name": name, "width": width, "input_size": size, "num_classes": len(labels)}
    notes: list[str] = []
    history: list[dict] = []
    if resume and os.path.exists(output):
        model, start, history = _resume(output, backbone, progress)
    else:
        model, start = build_for_training(name, width=width, size=size, classes=len(labels), weights=weights,
                                          seed=seed, progress=progress)
    if start == "random":
        notes.append("trained from random weights (no ImageNet weights): expect lower accuracy than transfer "
                     "learning gives")
    meta = {"backbone": backbone, "preprocessing": pp.to_dict(), "labels": labels, "weights": start,
            "edgebb_train": {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
                             "augment": list(augment)}}
    _set_bn_momentum(model, TRAIN_BN_MOMENTUM)
    train_ds = make_dataset(train_set.x, train_set.labels, batch_size, seed=seed, augment=augment)
    val_ds = make_dataset(val_set.x, val_set.labels, batch_size)
    best = [max((r["val_accuracy"] for r in history), default=-1.0)]
    trunk = _trunk_layer_names(name, width, size)
    phases = []
    if start != "random" and not any(r["phase"] == "fine-tune" for r in history):
        head_epochs = max(1, epochs // 3)
        phases = [("head", head_epochs, lr, 0), ("fine-tune", epochs - head_epochs, lr / 10, fine_tune_blocks)]
    else:
        phases = [("full", epochs - len(history), lr, None)]
    for phase, n, rate, blocks in phases:
        if n <= 0:
            continue
        open_blocks = set_trainable(model, trunk, blocks)
        _say(progress, f"phase {phase}: {n} epoch(s) at lr {rate:g}" +
             (f", trainable trunk blocks: {', '.join(open_blocks) or 'none'}" if blocks is not None else ""))
        model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
        callbacks = [checkpoint_callback(output, meta, history, phase, False, progress, best, len(history)),
                     keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience, mode="max")]
        try:
            model.fit(train_ds, validation_data=val_ds, epochs=n, verbose=0, callbacks=callbacks)
        finally:
            write_logs(output, history)
    if not os.path.exists(output):
        raise InputError(f"training produced no checkpoint for {output}")
    result = TrainResult(path=output, backbone=backbone, labels=labels, weights=start, best_val_accuracy=best[0],
                         epochs_run=len(history), history=history, notes=notes)
    if qat:
        result = quantization_aware(output, train_ds, val_ds, meta, epochs=qat_epochs, lr=lr / 10,
                                    patience=patience, history=history, progress=progress, result=result)
    return result


def make_dataset(x: np.ndarray, labels: np.ndarray, batch_size: int, *, seed: int | None = None,
                 augment: tuple[str, ...] = ()):
    """A batched tf.data pipeline over preprocessed images; with a `seed` it is a training pipeline: shuffled
    every epoch and augmented with `augment`."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, labels))
    if seed is not None:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        if augment:
            ds = ds.map(augmenter(tuple(augment), seed), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit_quantization_aware(float_model, train_ds, val_ds, *, epochs: int, lr: float, callbacks=()):
    """The QAT copy of `float_model` (fake quantization inserted, weights carried over, activation ranges
    calibrated on the first batches of `train_ds`) after `epochs` of fine-tuning on `train_ds` with Adam at `lr`.
    Validation (if any) runs in inference mode, as deployed."""
    import tf_keras as keras

    from .qat import calibrate_ranges, quantize_model, scope

    qat_model = quantize_model(float_model)
    calibrate_ranges(qat_model, (x for x, _ in train_ds.take(CALIBRATION_BATCHES)))
    with scope():
        qat_model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
        qat_model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=0, callbacks=list(callbacks))
    return qat_model


def quantization_aware(path: str, train_ds, val_ds, meta: dict, *, epochs: int, lr: float, patience: int,
                       history: list[dict], progress: Progress | None, result: TrainResult) -> TrainResult:
    """Fine-tune the float model at `path` with fake quantization and save the best epoch (by validation
    accuracy) beside it as *_qat.h5.

    HDF5, not .keras: tensorflow-model-optimization's QuantizeLayer saves in the .keras format but does not load
    back from it (it expects 5 variables and finds 3); HDF5 round-trips exactly.
    """
    import tf_keras as keras

    from .models import load_model

    qat_path = os.path.splitext(path)[0] + "_qat.h5"
    _say(progress, f"quantization-aware training: {epochs} epoch(s) at lr {lr:g} -> {qat_path}")
    best = [-1.0]
    callbacks = [checkpoint_callback(qat_path, {**meta, "qat": True}, history, "qat", True, progress, best,
                                     len(history)),
                 keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience, mode="max")]
    try:
        fit_quantization_aware(load_model(path), train_ds, val_ds, epochs=epochs, lr=lr, callbacks=callbacks)
    finally:
        write_logs(path, history)
    result.qat = True
    result.notes.append(f"quantization-aware model: {qat_path} (val accuracy {best[0]:.3f}); convert it with "
                        f"--recipe int8-qat")
    return result


def _trunk_layer_names(name: str, width: float, size: int) -> set[str]:
    from .models import create_model

    return {layer.name for layer in create_model(name, width=width, input_size=size, include_top=False).layers}


def _resume(path: str, backbone: dict, progress: Progress | None):
    from .modelmeta import read_meta
    from .models import load_model

    meta = read_meta(path) or {}
    theirs = meta.get("backbone") or {}
    mine = {k: backbone[k] for k in ("name", "width", "input_size", "num_classes")}
    if {k: theirs.get(k) for k in mine} != mine:
        raise InputError(f"cannot resume from {path}: it is {theirs.get('name')} (width {theirs.get('width')}, "
                         f"{theirs.get('input_size')} px, {theirs.get('num_classes')} classes), not "
                         f"{mine['name']} (width {mine['width']}, {mine['input_size']} px, {mine['num_classes']} "
                         "classes)")
    log = os.path.splitext(path)[0] + ".log.json"
    history = json.loads(open(log).read()) if os.path.exists(log) else []
    _say(progress, f"resuming from {path} after {len(history)} epoch(s)")
    return load_model(path), meta.get("weights", "random"), history


def _check(output, epochs, batch_size, lr, val_split, fine_tune_blocks, augment, patience, qat_epochs):
    if not output.endswith(".keras"):
        raise InputError(f"-o must end in .keras; received {output}")
    for name, value, low in (("--epochs", epochs, 1), ("--batch-size", batch_size, 1), ("--patience", patience, 1),
                             ("--fine-tune-blocks", fine_tune_blocks, 0), ("--qat-epochs", qat_epochs, 1)):
        if value < low:
            raise InputError(f"{name} must be at least {low}; received {value}")
    if not lr > 0:
        raise InputError(f"--lr must be positive; received {lr}")
    if not 0 < val_split < 1:
        raise InputError(f"--val-split must be between 0 and 1; received {val_split}")
    for kind in augment:
        if kind not in AUGMENTATIONS:
            from .errors import unknown_name

            raise unknown_name("augmentation", kind, list(AUGMENTATIONS))


def _say(progress: Progress | None, message: str) -> None:
    if progress:
        progress(message)
