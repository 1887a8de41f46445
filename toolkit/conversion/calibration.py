"""The images a conversion calibrates on and verifies with: the user's folder split into a held-out evaluation
part and the rest (calibration, and quantization-aware fine-tuning), or a generated set without one."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

from ..core.errors import InputError
from ..core.progress import Progress, as_progress

RANDOM_SAMPLES = 16


@dataclass
class EvalData:
    """Calibration and held-out evaluation inputs, already preprocessed for the model."""

    calib: np.ndarray
    eval_x: np.ndarray
    eval_labels: np.ndarray | None
    random_x: np.ndarray
    description: dict
    train_x: np.ndarray | None = None  # every non-evaluation image, for QAT fine-tuning (only when asked for)
    train_labels: np.ndarray | None = None


def prepare_data(data_dir: str | None, pp, *, labels: list[str] | None, calib_samples: int, seed: int,
                 eval_fraction: float = 0.3, eval_samples: int = 100, train: bool = False,
                 trained_on: set[str] | None = None, chose_checkpoint: set[str] | None = None,
                 calib_load: int | None = None, progress: Progress | None = None) -> EvalData:
    """Calibration and evaluation inputs from the user's image folder, or from a generated set without one.

    The folder is split per class into a held-out evaluation part (`eval_fraction`) and the rest, from which
    `calib_samples` images are drawn for calibration (only the first `calib_load` of them are read when given:
    what is drawn, and a generated set's size, do not depend on it); with `train`, all of the rest is loaded too, for
    quantization-aware fine-tuning (never the evaluation images). `trained_on` (image fingerprints, from a model
    `edgebb train` saved) replaces that split when the folder holds some of them: every image the model did not
    train on is held out, the images it trained on calibrate. A folder disjoint from the training images is split.
    `chose_checkpoint` (the training's validation images) counts the evaluation images among them, as
    `checkpoint_images` in the description: the saved epoch was the best on them, so top-1 there leans optimistic.

    Raises InputError when nothing could be held out (every image was a training image).
    """
    from ..data import fingerprint, load_images, normalize, scan_folder, split

    say = as_progress(progress)
    rng = np.random.default_rng(seed)
    random_x = normalize(rng.uniform(0, 255, (RANDOM_SAMPLES, pp.size, pp.size, 3)).astype(np.float32), pp)
    with tempfile.TemporaryDirectory(prefix="edgebb-synth-") as tmp:
        if data_dir is None:
            from ..data.synth import generate

            n_classes = 4
            per_class = -(-(calib_samples + eval_samples) // n_classes)
            say.say(f"no --data: generating a {n_classes}-class shapes set ({per_class} images per class) "
                    "for calibration and evaluation")
            generate(os.path.join(tmp, "synth"), classes=n_classes, per_class=per_class,
                     size=min(pp.size, 128), seed=seed)
            data_dir, synthetic = os.path.join(tmp, "synth"), True
        else:
            synthetic = False
        folder = scan_folder(data_dir)
        excluded = 0
        prints = {item.path: fingerprint(item.path) for item in folder.items} \
            if (trained_on or chose_checkpoint) and not synthetic else {}
        seen = [prints[item.path] in trained_on for item in folder.items] if trained_on and prints else []
        if any(seen):
            rest = [item for item, s in zip(folder.items, seen) if s]
            eval_items = [item for item, s in zip(folder.items, seen) if not s]
            excluded = len(rest)
            if not eval_items:
                raise InputError(f"the model was trained on every image in {data_dir}, so none can show what "
                                 "quantization costs; give --data images it has not seen")
            say.say(f"{excluded} of {len(folder.items)} image files in {data_dir} are the model's training images: "
                    f"held out the other {len(eval_items)}")
        else:
            rest, eval_items = split(folder.items, eval_fraction, seed)
        order = rng.permutation(len(rest))[:calib_samples]
        # In the seeded permutation's order: a backbone with random weights takes its BatchNorm statistics from the
        # first 64, and fp32 alone loads only those where int8 loads --calib-samples. In folder order (or with the
        # count changing the generated set) an fp32 and an fp32,int8 conversion built two different float models.
        calib_items = [rest[i] for i in order[:calib_load]]
        of = f" (of {len(rest)} not held out)" if len(calib_items) < len(rest) and not train else ""
        say.say(f"reading {len(calib_items)} calibration{of} and {len(eval_items)} evaluation images "
                + (f"({len(rest)} for fine-tuning) " if train else "")
                + f"from {'a generated set' if synthetic else data_dir}")
        calib = load_images(calib_items, pp)
        try:
            held = load_images(eval_items, pp)
        except InputError as exc:
            if not excluded:
                raise
            raise InputError(f"{exc}: the other {excluded} images in {data_dir} are the model's training images, "
                             "which convert keeps out of its evaluation") from None
        # of the evaluation images read (as `evaluation_images` counts them), those that chose the saved epoch
        chose = sum(1 for p in held.paths if prints[p] in chose_checkpoint) if chose_checkpoint and prints else 0
        tuning = load_images(rest, pp) if train else None
        # Only the images drawn are decoded, so a broken file elsewhere in the folder is neither read nor counted.
        broken = sorted(set(calib.unreadable + held.unreadable + (tuning.unreadable if tuning else [])))
        if broken:  # what was read, as the conversion's later lines count it ("47 evaluation" had been 45)
            say.say(f"skipped {len(broken)} unreadable image(s), e.g. {broken[0]}: read {len(calib.labels)} "
                    f"calibration and {len(held.labels)} evaluation images")
    aligned = labels is not None and list(folder.classes) == list(labels)
    read = {item.path for item in calib_items + eval_items + (rest if train else [])}
    description = {
        "kind": "synthetic" if synthetic else "folder", "path": None if synthetic else os.path.abspath(data_dir),
        "classes": list(folder.classes), "calibration_images": len(calib.labels), "evaluation_images":
        len(held.labels), "skipped_non_images": len(folder.skipped),
        "unreadable_images": len(broken), "labels_match_model": aligned,
        "random_inputs": RANDOM_SAMPLES,
    }
    if len(read) < len(folder.items):
        description["images_read"] = len(read)
    if synthetic:
        description["note"] = ("no --data given: figures describe a generated shapes set, not your task")
    if trained_on is not None and not synthetic:
        description["training_images_excluded"] = excluded
    if chose:
        description["checkpoint_images"] = chose
    if tuning is not None:
        description["fine_tuning_images"] = len(tuning.labels)
    return EvalData(calib=calib.x, eval_x=held.x, eval_labels=held.labels if aligned else None, random_x=random_x,
                    description=description, train_x=tuning.x if tuning else None,
                    train_labels=tuning.labels if tuning and aligned else None)
