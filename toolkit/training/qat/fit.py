"""Quantization-aware fine-tuning, wherever it happens: after `edgebb train --qat`, and inside
`edgebb convert --recipe int8-qat` on a float model."""

from __future__ import annotations

import os

import numpy as np

from ...core.progress import Progress, as_progress
from ..datasets import make_dataset

CALIBRATION_BATCHES = 8  # batches that set a QAT model's activation ranges before fine-tuning


def fit_quantization_aware(float_model, train_ds, val_ds, *, epochs: int, lr: float, callbacks=()):
    """The QAT copy of `float_model` (fake quantization inserted, weights carried over, activation ranges
    calibrated on the first batches of `train_ds`) after `epochs` of fine-tuning on `train_ds` with Adam at `lr`.
    Validation (if any) runs in inference mode, as deployed. Deterministic: the same model, data and seeds give
    the same weights (the augmentation draws each image's numbers from its own seed, see make_dataset)."""
    import tf_keras as keras

    from ..checkpoints import fit_interruptibly
    from .quantize import calibrate_ranges, quantize_model, scope

    qat_model = quantize_model(float_model)
    calibrate_ranges(qat_model, (x for x, _ in train_ds.take(CALIBRATION_BATCHES)))
    with scope():
        qat_model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
        fit_interruptibly(qat_model, train_ds, validation_data=val_ds, epochs=epochs, verbose=0,
                          callbacks=list(callbacks))
    return qat_model


def quantization_aware(path: str, train_ds, val_ds, meta: dict, *, epochs: int, lr: float, patience: int,
                       history: list[dict], progress: Progress | None) -> tuple[str, float]:
    """Fine-tune the float model at `path` with fake quantization and save the best epoch (by validation
    accuracy) beside it as *_qat.h5; returns (that path, its validation accuracy).

    HDF5, not .keras: tensorflow-model-optimization's QuantizeLayer saves in the .keras format but does not load
    back from it (it expects 5 variables and finds 3); HDF5 round-trips exactly.
    """
    import tf_keras as keras

    from ...models import load_model
    from ..checkpoints import checkpoint_callback, write_logs

    qat_path = os.path.splitext(path)[0] + "_qat.h5"
    say = as_progress(progress)
    say.say(f"quantization-aware training: {epochs} epoch(s) at lr {lr:g} -> {qat_path}")
    best = [-1.0]
    with say.step("quantization-aware training", total=epochs) as step:
        callbacks = [checkpoint_callback(qat_path, {**meta, "qat": True}, history, "qat", True, step, best,
                                         len(history)),
                     keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience, mode="max")]
        try:
            fit_quantization_aware(load_model(path), train_ds, val_ds, epochs=epochs, lr=lr, callbacks=callbacks)
        finally:
            write_logs(path, history)
    return qat_path, best[0]


def fine_tune(float_model, x: np.ndarray, labels: np.ndarray, *, epochs: int, lr: float, seed: int,
              augment: tuple[str, ...] = (), batch_size: int = 32, progress: Progress | None = None):
    """The QAT copy of `float_model` fine-tuned on images `x` (preprocessed) with `labels`, augmented as the float
    model was trained (`augment`: its edgebb train's; none for a model of unknown training: augmentations it never
    saw made a 96%-accurate model's QAT loss start above ln(classes)); returns (model, origin), origin describing
    what was done (for the manifest)."""
    import tf_keras as keras

    from ...core.tf import quiet

    say = as_progress(progress)
    log: list[dict] = []
    keras.utils.set_random_seed(seed)
    with say.step(f"quantization-aware fine-tuning on {len(x)} images", total=epochs) as step:
        def on_epoch_end(epoch, logs):
            log.append({"epoch": epoch + 1, "loss": float(logs["loss"]), "accuracy": float(logs["accuracy"])})
            step.advance(detail=f"QAT epoch {epoch + 1}/{epochs}: loss {logs['loss']:.3f}, "
                                f"acc {100 * logs['accuracy']:.1f}%", log=True)

        with quiet():
            model = fit_quantization_aware(
                float_model, make_dataset(x, labels, batch_size, seed=seed, augment=tuple(augment)), None,
                epochs=epochs, lr=lr, callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)])
    origin = {"from": "fine-tuned here", "epochs": epochs, "lr": lr, "images": len(x), "augment": list(augment),
              "log": log}
    return model, origin
