"""Saving what training produces: the best model so far (atomically, with edgebb's metadata inside), the
per-epoch log beside it, and resuming from both."""

from __future__ import annotations

import json
import os
import time

from ..core.errors import InputError
from ..core.progress import Progress, Step, as_progress


def save_checkpoint(model, path: str, meta: dict, qat: bool = False) -> None:
    """Save `model` with its edgebb metadata atomically: the old file stays until the new one is complete.
    A QAT model is saved as HDF5 (see `quantization_aware`)."""
    from ..build.meta import write_meta
    from ..core.files import atomic_path
    from ..core.tf import quiet

    with atomic_path(path) as tmp:
        if qat:
            from .qat import scope

            with scope(), quiet():  # quiet: Keras warns that HDF5 is a legacy format on every save
                model.save(tmp, save_format="h5")
        else:
            model.save(tmp)
        write_meta(tmp, meta)


def checkpoint_callback(path: str, meta: dict, log: list[dict], phase: str, qat: bool, step: Step | None,
                        best: list[float], epoch_offset: int):
    """A Keras callback that, after each epoch, appends a row to `log`, advances `step` with the epoch's figures
    and saves the model to `path` when validation accuracy beat `best[0]`.

    Defined inside a function so that importing this module does not import TensorFlow.
    """
    import tf_keras as keras

    class Callback(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.path, self.meta, self.log, self.phase, self.qat = path, meta, log, phase, qat
            self.step, self.best, self.epoch_offset = step or Step("", None), best, epoch_offset
            self.started = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            from ..core import interrupts

            if interrupts.pending():  # an epoch cut short by Ctrl-C or SIGTERM (fit_interruptibly): not an epoch
                return
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
            self.step.advance(detail=f"epoch {row['epoch']} ({self.phase}): loss {row['loss']:.3f}, "
                                     f"acc {100 * row['accuracy']:.1f}%, val acc {100 * row['val_accuracy']:.1f}%"
                                     + (" -> saved" if improved else "") + f" [{row['seconds']:.1f} s]", log=True)

    return Callback()


def fit_interruptibly(model, train_ds, callbacks=(), **kwargs) -> None:
    """`model.fit` that takes Ctrl-C or SIGTERM at the end of the batch in flight: raised inside TensorFlow's
    training loop, the interrupt could crash the process (SIGSEGV, exit -11 instead of 143; CI saw it once in a
    SIGTERM after an epoch), as it did inside an export (conversion.pipeline). The signal is held while a batch
    runs; at the batch's end (training or validation) the fit stops by an exception of edgebb's own, so the
    cut-short epoch is neither validated, logged nor saved, and the signal is raised when fit has returned."""
    import tf_keras as keras

    from ..core import interrupts

    class Interrupted(Exception):
        pass

    class StopOnInterrupt(keras.callbacks.Callback):
        def _stop(self, *args):
            if interrupts.pending():
                raise Interrupted

        on_train_batch_begin = on_train_batch_end = on_test_batch_begin = on_test_batch_end = _stop

    with interrupts.deferred():
        try:
            model.fit(train_ds, callbacks=[*callbacks, StopOnInterrupt()], **kwargs)
        except Interrupted:
            pass  # interrupts.deferred raises the signal on the way out


def write_logs(path: str, history: list[dict]) -> tuple[str, str]:
    """The training log beside the model: PATH.log.csv and PATH.log.json."""
    from ..core.files import write_atomic
    from ..core.serialize import to_csv

    base = os.path.splitext(path)[0]
    columns = ["epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "saved"]
    write_atomic(base + ".log.csv", to_csv(history, columns))
    write_atomic(base + ".log.json", json.dumps(history, indent=2) + "\n")
    return base + ".log.csv", base + ".log.json"



def resume(path: str, backbone: dict, progress: Progress | None):
    """The checkpoint at `path` to go on from: (model, the weights it started from, the log so far, and the
    optimizer's saved state as {"phase": the phase it was saved in, "variables": [...]} or None). InputError when
    it is another backbone, width, size or number of classes."""
    from ..build.meta import read_meta
    from ..core.tf import quiet
    from ..models import load_model

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
    with quiet():  # a checkpoint saved without its optimizer warns that it has no training configuration
        model = load_model(path, compile=True)
    optimizer = getattr(model, "optimizer", None)
    variables = [v.numpy() for v in optimizer.variables] if optimizer is not None and optimizer.variables else None
    phase = next((r["phase"] for r in history if r["epoch"] == meta.get("epoch")), None)
    state = {"phase": phase, "variables": variables} if variables and phase else None
    as_progress(progress).say(f"resuming from {path} after {len(history)} epoch(s), its best at epoch "
                              f"{meta.get('epoch', '?')}" + (f" (optimizer step {int(variables[0])})" if state else ""))
    return model, meta.get("weights", "random"), history, state


def restore_optimizer(optimizer, variables: list, state: list | None) -> bool:
    """Give a new `optimizer` over `variables` the saved `state` (its step and moments) when they match in number
    and shapes (the same phase's trainable variables); False, leaving it fresh, when they do not."""
    if not state:
        return False
    optimizer.build(variables)
    if len(optimizer.variables) != len(state) or any(tuple(v.shape) != tuple(getattr(s, "shape", ()))
                                                     for v, s in zip(optimizer.variables, state)):
        return False
    for var, value in zip(optimizer.variables, state):
        var.assign(value)
    return True
