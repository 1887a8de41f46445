"""The data side of training: an image folder split into training and validation images, tf.data pipelines,
and the augmentations applied to training batches only."""

from __future__ import annotations

import math
import os

import numpy as np

from ..core.errors import InputError
from ..core.progress import Progress, as_progress

AUGMENTATIONS = ("flip", "crop", "rotate", "color")


def load_split(data: str, pp, *, val_data: str | None, val_split: float, seed: int, progress: Progress | None):
    """(train LoadedImages, val LoadedImages, class names) from the folder(s), with the problems users hit
    reported as one-line InputErrors: one class, too few images to split, a validation folder whose classes differ."""
    from ..data import load_images, scan_folder, split

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
        train_items, val_items = folder.items, _unseen(other.items, folder.items, val_data, data, progress)
    train = load_images(train_items, pp)
    val = load_images(val_items, pp)
    # said once read: "184 for training" had counted 2 files that could not be decoded (182 were trained on)
    bad = train.unreadable + val.unreadable
    skipped = f"; skipped {len(bad)} unreadable image(s), e.g. {bad[0]}" if bad else ""
    as_progress(progress).say(f"{folder.summary()}{skipped}; {len(train.labels)} for training, {len(val.labels)} for "
                              "validation")
    return train, val, folder.classes


def _unseen(val_items: list, train_items: list, val_data: str, data: str, progress: Progress | None) -> list:
    """The validation images that are not training images (by content: the same file under another name or folder
    counts). Validating on training images (--val-data the training folder, or a folder holding it) chose the
    epoch on what the model had learned and reported its training accuracy as validation accuracy."""
    from ..data.folders import fingerprint

    def content(path: str) -> str | None:
        try:  # an empty file is no image: two of them are not one image seen twice
            return fingerprint(path) if os.path.getsize(path) else None
        except OSError:  # unreadable: loading skips it and says so; it matches nothing here
            return None

    seen = {content(i.path) for i in train_items} - {None}
    kept = [i for i in val_items if content(i.path) not in seen]
    if not kept:
        raise InputError(f"every image of --val-data {val_data} is also in --data {data}: validation needs images "
                         "the model does not train on (another folder, or leave --val-data out to split some off)")
    if len(kept) < len(val_items):
        as_progress(progress).say(f"--val-data: {len(val_items) - len(kept)} of its {len(val_items)} images are also "
                                  f"training images in {data} and are left out of validation")
    return kept


def augmenter(kinds: tuple[str, ...]):
    """A tf.data map function applying the chosen augmentations to one normalized image (training only), drawn
    from the element's own `seed` ([2] int64): stateless ops, so the pipeline can map in parallel and still give
    the same image the same draws whatever order its threads run in.

    flip: horizontal mirror; crop: a random resized crop of 60-100% of the area, aspect 3/4-4/3; rotate: up to
    +-15 degrees; color: brightness and contrast jitter of +-20%. None of them changes the class of a
    natural-image or shapes task (vertical flips would, for text or arrows, so they are not offered).
    """
    import tensorflow as tf

    def apply(image, label, seed):
        seeds = iter(tf.unstack(tf.random.experimental.stateless_split(seed, num=8)))

        def uniform(low, high):
            return tf.random.stateless_uniform([], next(seeds), low, high)

        size = tf.shape(image)[0]
        if "flip" in kinds:
            image = tf.image.stateless_random_flip_left_right(image, next(seeds))
        if "crop" in kinds:
            area = uniform(0.6, 1.0)
            ratio = tf.exp(uniform(math.log(3 / 4), math.log(4 / 3)))
            h = tf.minimum(tf.sqrt(area / ratio), 1.0)
            w = tf.minimum(tf.sqrt(area * ratio), 1.0)
            y0 = uniform(0.0, 1.0 - h)
            x0 = uniform(0.0, 1.0 - w)
            image = tf.image.crop_and_resize(image[None], [[y0, x0, y0 + h, x0 + w]], [0], [size, size])[0]
        if "rotate" in kinds:
            angle = uniform(-15.0, 15.0) * math.pi / 180
            c, s = tf.cos(angle), tf.sin(angle)
            centre = tf.cast(size, tf.float32) / 2
            transform = [c, -s, centre - c * centre + s * centre, s, c, centre - s * centre - c * centre, 0.0, 0.0]
            image = tf.raw_ops.ImageProjectiveTransformV3(
                images=image[None], transforms=tf.cast([transform], tf.float32), output_shape=[size, size],
                fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")[0]
        if "color" in kinds:
            image = image * uniform(0.8, 1.2) + uniform(-0.2, 0.2)
        return image, label

    return apply


def make_dataset(x: np.ndarray, labels: np.ndarray, batch_size: int, *, seed: int | None = None,
                 augment: tuple[str, ...] = ()):
    """A batched tf.data pipeline over preprocessed images; with a `seed` it is a training pipeline: shuffled
    every epoch and augmented with `augment`, the same for the same seed (each element's augmentation seed comes
    from a seeded stream that moves on every epoch, so the parallel map cannot reorder the draws)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, labels))
    if seed is not None:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        if augment:
            draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
            one = augmenter(tuple(augment))
            ds = tf.data.Dataset.zip((ds, draws)).map(lambda pair, s: one(*pair, s),
                                                      num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

