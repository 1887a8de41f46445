"""`edgebb train`: transfer learning and quantization-aware training on an image folder.

A backbone gets a new head for the folder's classes. With ImageNet weights the head is trained first with the
backbone frozen, then the top blocks are fine-tuned at a tenth of the learning rate; with random weights (no
ImageNet weights for the family, or none reachable offline) everything trains from the start, and the output
says so. Early stopping watches validation accuracy and the best model is what is saved, atomically at every
improvement, so Ctrl-C leaves the last good checkpoint. The saved .keras file carries the backbone config,
preprocessing, labels and a fingerprint of every training image, so `edgebb convert model.keras` needs nothing
else and evaluates only on images the model never trained on.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from ..core.errors import InputError
from ..core.files import check_can_write_file, check_outside
from ..core.progress import Progress, as_progress
from .checkpoints import checkpoint_callback, fit_interruptibly, restore_optimizer, resume, write_logs
from .datasets import load_split, make_dataset
from .model import TRAIN_BN_MOMENTUM, build_for_training, set_bn_momentum, set_trainable, trunk_layer_names
from .options import TrainOptions


@dataclass
class TrainResult:
    """What `train` produced: the saved model, its best validation accuracy, the epoch it is from (`best_epoch`,
    not the last: early stopping and epochs that did not improve run on after it) and the per-epoch log."""

    path: str
    backbone: dict
    labels: list[str]
    weights: str
    best_val_accuracy: float
    epochs_run: int
    best_epoch: int | None = None
    history: list[dict] = field(default_factory=list)
    qat: bool = False
    qat_path: str | None = None
    notes: list[str] = field(default_factory=list)
    train_seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def train(name: str, data: str, output: str, options: TrainOptions | None = None, *,
          progress: Progress | None = None, **kwargs) -> TrainResult:
    """Train backbone `name` on the image folder `data` and save the best model to `output` (.keras).

    `options` (a TrainOptions) and/or keyword arguments naming its fields (width=0.5, epochs=15, qat=True, ...)
    say how. Returns a TrainResult.

    Raises InputError for bad input, before any training: an unknown backbone or option, a folder with one class
    or too few images, an output that cannot be written, a checkpoint to resume from that belongs to another
    backbone.
    """
    import time

    from ..models import get_spec, preprocessing_for

    opts = TrainOptions.from_kwargs(options, kwargs)
    say = as_progress(progress)
    spec = get_spec(name)
    spec.check_width(opts.width)
    spec.check_size(opts.size)
    lr = opts.lr if opts.lr is not None else spec.train_lr
    if not output.endswith(".keras"):
        raise InputError(f"-o must end in .keras; received {output}")
    check_can_write_file(output, "model file")
    for folder, called in ((data, "data folder"), (opts.val_data, "--val-data folder")):
        check_outside(output, folder, "model file", file=True, folder=called)
    started = time.perf_counter()
    pp = preprocessing_for(name, opts.size)
    train_set, val_set, labels = load_split(data, pp, val_data=opts.val_data, val_split=opts.val_split,
                                            seed=opts.seed, progress=progress)
    from ..core.tf import load_tensorflow

    load_tensorflow()
    import tf_keras as keras

    backbone = {"name": name, "width": opts.width, "input_size": opts.size, "num_classes": len(labels)}
    notes: list[str] = []
    history: list[dict] = []
    saved_optimizer = None  # a resumed checkpoint's optimizer state: its step and Adam's moments
    if opts.resume and os.path.exists(output):
        model, start, history, saved_optimizer = resume(output, backbone, progress)
    else:
        if opts.resume:
            say.say(f"--resume: no checkpoint at {output} yet: training from the start")
            notes.append(f"--resume found no checkpoint at {output}: trained from the start")
        model, start = build_for_training(name, width=opts.width, size=opts.size, classes=len(labels),
                                          weights=opts.weights, seed=opts.seed, progress=progress)
    if start == "random":
        from ..models import get_spec

        why = ("--weights none" if opts.weights in (None, "none") else
               "ImageNet weights exist for it but could not be loaded, as said above"
               if get_spec(name).has_imagenet_at(opts.width) else "no ImageNet weights exist for it")
        notes.append(f"trained from random weights ({why}): expect lower accuracy than transfer learning gives")
    meta = _metadata(backbone, pp, labels, start, opts, lr, data, train_set, val_set)
    set_bn_momentum(model, TRAIN_BN_MOMENTUM)
    train_ds = make_dataset(train_set.x, train_set.labels, opts.batch_size, seed=opts.seed, augment=opts.augment)
    val_ds = make_dataset(val_set.x, val_set.labels, opts.batch_size)
    best = [max((r["val_accuracy"] for r in history), default=-1.0)]
    trunk = trunk_layer_names(name, opts.width, opts.size)
    for phase, n, rate, blocks in _phases(start, opts, lr, history):
        if n <= 0:
            continue
        open_blocks = set_trainable(model, trunk, blocks)
        say.say(f"phase {phase}: {n} epoch(s) at lr {rate:g}" +
                (f", trainable trunk blocks: {', '.join(open_blocks) or 'none'}" if blocks is not None else ""))
        optimizer = keras.optimizers.Adam(rate)
        if saved_optimizer and saved_optimizer["phase"] == phase:  # go on with the checkpoint's optimizer state
            if not restore_optimizer(optimizer, model.trainable_variables, saved_optimizer["variables"]):
                notes.append("--resume: the checkpoint's optimizer state did not fit this phase's trainable "
                             "variables: the optimizer started afresh")
        saved_optimizer = None  # a later phase starts with a new optimizer, as it does without --resume
        model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
        with say.step(f"training ({phase})", total=n) as step:
            callbacks = [checkpoint_callback(output, meta, history, phase, False, step, best, len(history)),
                         keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=opts.patience, mode="max")]
            try:
                fit_interruptibly(model, train_ds, validation_data=val_ds, epochs=n, verbose=0, callbacks=callbacks)
            finally:
                if history:  # an interrupt before the first epoch ended: no model, and no empty log beside it
                    write_logs(output, history)
    if not os.path.exists(output):
        raise InputError(f"training produced no checkpoint for {output}")
    notes += _outcome_notes(history, best[0], opts, lr, len(val_set.labels), len(labels))
    result = TrainResult(path=output, backbone=backbone, labels=labels, weights=start, best_val_accuracy=best[0],
                         epochs_run=len(history), best_epoch=saved_epoch(history), history=history, notes=notes)
    if opts.qat:
        from .qat import quantization_aware

        qat_path, qat_best = quantization_aware(output, train_ds, val_ds, meta, epochs=opts.qat_epochs,
                                                lr=lr / 10, patience=opts.patience, history=history,
                                                progress=progress)
        result.qat, result.qat_path = True, qat_path
        result.notes.append(f"quantization-aware model: {qat_path} (best validation accuracy "
                            f"{100 * qat_best:.1f}%); convert it with --recipe int8-qat")
        lost = qat_lost(qat_best, best[0], len(val_set.labels), len(labels))
        if lost:
            result.notes.append(lost)
    result.train_seconds = time.perf_counter() - started
    return result


def _metadata(backbone: dict, pp, labels: list[str], start: str, opts: TrainOptions, lr: float, data: str,
              train_set, val_set) -> dict:
    """The edgebb metadata saved in the model file: what it is, how it was trained and on which images."""
    from ..data import fingerprint

    return {"backbone": backbone, "preprocessing": pp.to_dict(), "labels": labels, "weights": start,
            "edgebb_train": {"epochs": opts.epochs, "batch_size": opts.batch_size, "lr": lr, "seed": opts.seed,
                             "augment": list(opts.augment), "threads": training_threads()},
            # what convert needs to keep these images out of its held-out evaluation
            "training_images": {"root": os.path.abspath(data), "count": len(train_set.paths),
                                "fingerprints": sorted(fingerprint(p) for p in train_set.paths)},
            # the images that chose the saved epoch: convert says when it evaluates on them (an optimistic top-1)
            "validation_images": {"count": len(val_set.paths),
                                  "fingerprints": sorted(fingerprint(p) for p in val_set.paths)}}


def _phases(start: str, opts: TrainOptions, lr: float, history: list[dict]) -> list[tuple[str, int, float, int | None]]:
    """(phase, epochs left, learning rate, trunk blocks to train: 0 none, None all) in order. From pretrained
    weights: the head on a frozen trunk, then its top blocks; from random ones, everything. A resumed run goes on
    where its history ends."""
    if start == "random":
        return [("full", opts.epochs - len(history), lr, None)]
    head_epochs = max(1, opts.epochs // 3)
    tuned = sum(1 for r in history if r["phase"] == "fine-tune")
    headed = head_epochs if tuned else sum(1 for r in history if r["phase"] == "head")  # early stopping
    return [("head", head_epochs - headed, lr, 0),
            ("fine-tune", opts.epochs - head_epochs - tuned, lr / 10, opts.fine_tune_blocks)]


def _outcome_notes(history: list[dict], best: float, opts: TrainOptions, lr: float, samples: int,
                   classes: int) -> list[str]:
    """What the run's history says: epochs early stopping left out, a model that did not learn or is at chance."""
    notes = []
    if len(history) < opts.epochs:  # not interrupted (that raises): early stopping ended a phase
        notes.append(f"early stopping: {opts.epochs - len(history)} of the {opts.epochs} epochs were not run, as "
                     f"validation accuracy had not improved for {opts.patience} epoch(s) (--patience)")
    stuck = did_not_learn(history, classes)
    if stuck:
        notes.append(f"{stuck}: the model did not learn; train longer (--epochs) or try a lower --lr "
                     f"(this run: {lr:g})")
    elif at_chance(best, samples, classes):
        notes.append(f"the best validation accuracy, {100 * best:.1f}% on {samples} images, cannot be "
                     f"told from guessing ({100 / classes:.0f}% for {classes} classes): the model has not "
                     "learned the task yet; train longer (--epochs) or with more images. edgebb convert shows its "
                     "quantized artifacts but does not judge them")
    return notes


def qat_lost(qat_best: float, float_best: float, samples: int, classes: int) -> str | None:
    """The note for quantization-aware training that fell to guessing from a float model that had learned (a new
    user's QAT stayed at loss ln 4 for both epochs and train said only "val accuracy 0.250"), else None."""
    if not at_chance(qat_best, samples, classes) or at_chance(float_best, samples, classes):
        return None
    return (f"quantization-aware training lost what the float model learned: its best validation accuracy, "
            f"{100 * qat_best:.1f}% on {samples} images, cannot be told from guessing (the float model: "
            f"{100 * float_best:.1f}%); convert the float model with --recipe int8 instead, or run more --qat-epochs")


def at_chance(accuracy: float, samples: int, classes: int) -> bool:
    """Whether a best validation accuracy (a fraction; -1 when none was measured) is no better than guessing."""
    from ..core.chance import indistinguishable_from_chance

    return 0 <= accuracy and samples > 0 and indistinguishable_from_chance(accuracy, samples, classes)


def saved_epoch(history: list[dict]) -> int | None:
    """The epoch of the float model saved at the end: the last that saved, since each save beat every epoch before
    it (the QAT model has its own file). A user's 3-epoch run said "after 3 epoch(s)" of a model from epoch 1."""
    return max((r["epoch"] for r in history if r.get("saved") and r["phase"] != "qat"), default=None)


def did_not_learn(history: list[dict], classes: int) -> str | None:
    """Why the log says training never left the start, or None: the training loss stayed at ln(classes), a
    uniform prediction (what a dead ReLU classifier gives: it outputs zeros for every image)."""
    import math

    losses = [r["loss"] for r in history if r.get("loss") is not None]
    if not losses or min(losses) < 0.98 * math.log(classes):
        return None
    return (f"the training loss never went below {min(losses):.3f} (ln {classes} = {math.log(classes):.3f}, a "
            "uniform guess)")


def training_threads() -> int:
    """TensorFlow's intra-op threads here (TF_NUM_INTRAOP_THREADS; by default every core). Weights depend on them
    as on the seed: another count sums in another order."""
    import tensorflow as tf

    env = os.environ.get("TF_NUM_INTRAOP_THREADS", "")
    return (int(env) if env.isdigit() and int(env) > 0 else 0) or \
        tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1
