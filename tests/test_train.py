"""edgebb train and quantization-aware training: the pipeline, its checkpoints and logs, and bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from edgebb import InputError
from edgebb.build.meta import read_meta
from edgebb.conversion.exporters.tflite import keras_converter
from edgebb.core.progress import CallbackProgress
from edgebb.training import train

SIZE = 32


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from edgebb.data.synth import generate

    root = tmp_path_factory.mktemp("train") / "shapes"
    generate(str(root), classes=4, per_class=16, size=40, seed=2)
    return str(root)


def test_trains_saves_logs_and_converts(tmp_path, shapes):
    out = str(tmp_path / "m.keras")
    result = train("mobilenet_v3_small", shapes, out, width=0.75, size=SIZE, epochs=2, batch_size=16,
                   weights=None, augment=("flip", "crop", "rotate", "color"))
    assert os.path.exists(out) and result.epochs_run == 2 and result.weights == "random"
    # 12 validation images of 4 classes: up to 50% (chance 25% + two standard errors) is no better than guessing,
    # which train says (a new user's run at exactly 25% every epoch ended with no word about it)
    # (unless the loss never fell, which is said instead)
    said = any("cannot be told from guessing" in n for n in result.notes)
    stuck = any("did not learn" in n for n in result.notes)
    assert said == (0 <= result.best_val_accuracy <= 0.5 and not stuck), (result.best_val_accuracy, result.notes)
    from edgebb.training.loop import at_chance

    assert at_chance(0.5, 12, 4) and not at_chance(0.59, 12, 4) and not at_chance(-1.0, 12, 4)
    from edgebb.training.loop import qat_lost

    assert "lost what the float model learned" in qat_lost(0.25, 0.9, 100, 4)  # QAT fell to guessing
    assert qat_lost(0.85, 0.9, 100, 4) is None and qat_lost(0.25, 0.3, 100, 4) is None  # held; never learned
    from edgebb.build.meta import read_meta

    meta = read_meta(out)
    assert meta["backbone"]["name"] == "mobilenet_v3_small" and meta["labels"] == result.labels
    assert meta["preprocessing"]["size"] == SIZE
    log = json.loads(open(str(tmp_path / "m.log.json")).read())
    assert [r["epoch"] for r in log] == [1, 2] and all("val_accuracy" in r for r in log)
    assert open(str(tmp_path / "m.log.csv")).readline().startswith("epoch,phase,loss")
    from edgebb.conversion import convert

    converted = convert(out, str(tmp_path / "out"), shapes, recipes="fp32", calib_samples=4)
    assert converted.source.labels == result.labels
    assert converted.artifacts[0].verification.top1_agreement == 100.0
    # held out means held out: convert evaluates on the images training did not see (its validation split)
    trained_on = meta["training_images"]["count"]
    # 4 classes x 16 images, round(20% of 16) = 3 per class for validation
    assert trained_on == 52 and len(meta["training_images"]["fingerprints"]) == 52
    assert converted.data["evaluation_images"] == 64 - trained_on
    assert converted.data["training_images_excluded"] == trained_on
    assert any("did not train on" in n for n in converted.notes)
    # they are the validation split, on which the saved epoch was chosen: their top-1 leans optimistic, and it says so
    assert meta["validation_images"]["count"] == 12 and converted.data["checkpoint_images"] == 12
    assert any(n.startswith("12 of the 12 evaluation images are the training's validation images, on which its best "
                            "epoch was chosen") for n in converted.notes), converted.notes
    other = str(tmp_path / "other")
    from edgebb.data.synth import generate

    generate(other, classes=4, per_class=4, size=40, seed=9)  # images training never used: nothing to say
    unbiased = convert(out, str(tmp_path / "out2"), other, recipes="fp32", calib_samples=4)
    assert "checkpoint_images" not in unbiased.data
    assert not any("validation images" in n for n in unbiased.notes)


def test_training_is_reproducible_for_the_same_seed(tmp_path, shapes):
    """Two `edgebb train --seed 3` at once, augmenting with all four kinds, end with the same weights: each image's
    augmentation is drawn from its own seed, so the parallel map's thread order cannot change it. With stateful
    random ops in that map the two runs differed."""
    from edgebb.models import load_model

    runs = [subprocess.Popen([sys.executable, "-m", "edgebb", "train", "mobilenet_v2", "--width", "0.35", "--size",
                              str(SIZE), "--data", shapes, "--epochs", "2", "--batch-size", "8", "--weights", "none",
                              "--seed", "3", "-q", "-o", str(tmp_path / f"{run}.keras")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "TF_NUM_INTRAOP_THREADS": "1"}) for run in ("a", "b")]
    for process in runs:
        _, err = process.communicate()
        assert process.returncode == 0, err[-2000:]
    a, b = (load_model(str(tmp_path / f"{run}.keras")) for run in ("a", "b"))
    assert len(a.weights) == len(b.weights) > 0
    assert all(np.array_equal(u.numpy(), v.numpy()) for u, v in zip(a.weights, b.weights))
    # the same seed *and threads*: another count of TensorFlow threads sums in another order (a sweep at --jobs 1
    # and at --jobs 2 trained different weights), so the model records them
    from edgebb.build.meta import read_meta

    assert read_meta(str(tmp_path / "a.keras"))["edgebb_train"]["threads"] == 1


def test_squeezenet_learns_from_random_weights_and_a_stuck_run_says_so(tmp_path):
    """SqueezeNet has no BatchNorm: with Keras' default initialisation and Adam at 1e-3 it stayed at chance on the
    digits scans (its ReLU classifier died: every output 0, the loss ln 10). He-initialised, at its own default rate
    it learns; at the old rate the run still fails, and the notes say why instead of saving a silent coin toss."""
    from edgebb.data.scans import write_digits

    write_digits(str(tmp_path / "train"), split="train", size=SIZE)
    write_digits(str(tmp_path / "eval"), split="eval", size=SIZE)
    common = dict(size=SIZE, weights=None, augment=(), val_data=str(tmp_path / "eval"))
    learned = train("squeezenet_1_1", str(tmp_path / "train"), str(tmp_path / "a.keras"), epochs=6, **common)
    assert learned.best_val_accuracy > 0.3, learned.history  # 10 classes: chance is 0.1
    assert not any("did not learn" in n for n in learned.notes)
    stuck = train("squeezenet_1_1", str(tmp_path / "train"), str(tmp_path / "b.keras"), epochs=3, lr=1e-3, **common)
    # with few epochs, too little training is the likelier cause: the note says that first
    assert any("training loss never went below 2.30" in n and n.endswith(
        "the model did not learn; train longer (--epochs) or try a lower --lr (this run: 0.001)")
        for n in stuck.notes), stuck.notes
    # converted, its int8 copy is shown but not judged: a model at chance has near-tied outputs any rounding reorders
    from edgebb.conversion import convert

    result = convert(str(tmp_path / "b.keras"), str(tmp_path / "out"), str(tmp_path / "eval"), recipes="int8",
                     formats="tflite", calib_samples=16)
    assert any("cannot be told from guessing" in n and "not judged" in n for n in result.notes), result.notes
    assert result.artifacts[0].verification.passed is None


def test_the_summary_names_the_epoch_of_the_saved_model_in_percent(tmp_path, shapes):
    """A new user's 3-epoch run said "best validation accuracy 25.0% after 3 epoch(s)" of a model saved at epoch
    1, and "(val accuracy 0.850)" for the QAT model beside "72.5%". The summary names the saved model's epoch (the
    one its metadata records) and every accuracy is in percent."""
    out = tmp_path / "m.keras"
    done = subprocess.run([sys.executable, "-m", "edgebb", "train", "squeezenet_1_1", "--size", str(SIZE), "--data",
                           shapes, "--epochs", "3", "--batch-size", "16", "--weights", "none", "--augment", "none",
                           "--qat", "--qat-epochs", "1", "-q", "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    saved, qat = read_meta(str(out)), read_meta(str(tmp_path / "m_qat.h5"))
    lines = done.stdout.splitlines()
    assert lines[0] == (f"saved {out}: best validation accuracy {100 * saved['best_val_accuracy']:.1f}% at epoch "
                        f"{saved['epoch']} of 3, from random weights; log in {tmp_path / 'm'}.log.csv"), done.stdout
    assert f"note: quantization-aware model: {tmp_path / 'm_qat.h5'} (best validation accuracy " \
           f"{100 * qat['best_val_accuracy']:.1f}%); convert it with --recipe int8-qat" in lines, done.stdout
    from edgebb.training.loop import saved_epoch

    # each save beat the epochs before it, so the last save is the model on disk; the QAT model has its own file
    rows = [{"epoch": 1, "phase": "full", "saved": True}, {"epoch": 2, "phase": "full", "saved": False},
            {"epoch": 3, "phase": "full", "saved": False}, {"epoch": 4, "phase": "qat", "saved": True}]
    assert saved_epoch(rows) == 1


def test_resume_continues_and_refuses_another_backbone(tmp_path, shapes):
    out = str(tmp_path / "m.keras")
    first = train("squeezenet_1_1", shapes, out, size=SIZE, epochs=1, batch_size=16, weights=None, augment=(),
                  resume=True)  # nothing to resume from yet: it starts, and says so
    assert any("--resume found no checkpoint" in n for n in first.notes), first.notes
    first_meta = read_meta(out)
    said = []
    resumed = train("squeezenet_1_1", shapes, out, size=SIZE, epochs=2, batch_size=16, weights=None, augment=(),
                    resume=True, progress=CallbackProgress(said.append))
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    # it goes on with the optimizer's state (Adam's step and moments), not a fresh optimizer
    steps = -(-first_meta["training_images"]["count"] // 16)
    assert f"resuming from {out} after 1 epoch(s), its best at epoch 1 (optimizer step {steps})" in said, said
    assert not any("optimizer started afresh" in n for n in resumed.notes), resumed.notes
    with pytest.raises(InputError, match="cannot resume from .*: it is squeezenet_1_1"):
        train("squeezenet_1_0", shapes, out, size=SIZE, epochs=2, weights=None, resume=True)


def test_resume_of_a_two_phase_training_goes_on_in_its_phase(tmp_path, shapes):
    """From a weights file, training runs the head on a frozen trunk, then its top blocks at a tenth of the
    rate. Resumed after the head phase it ran the head again; resumed in fine-tuning, it trained every block at
    the full rate. It goes on where it was, in the phase it was in."""
    from edgebb.models import create_model

    weights = str(tmp_path / "start.weights.h5")
    create_model("squeezenet_1_1", input_size=SIZE, num_classes=4).save_weights(weights)
    out, lr = str(tmp_path / "m.keras"), 1e-3
    common = dict(size=SIZE, batch_size=16, weights=weights, augment=(), lr=lr, resume=True)
    assert [r["phase"] for r in train("squeezenet_1_1", shapes, out, epochs=1, **common).history] == ["head"]
    assert [r["phase"] for r in train("squeezenet_1_1", shapes, out, epochs=2, **common).history] == \
        ["head", "fine-tune"]
    said = []
    last = train("squeezenet_1_1", shapes, out, epochs=3, progress=CallbackProgress(said.append), **common)
    assert [(r["phase"], r["lr"]) for r in last.history] == [("head", pytest.approx(lr)),
                                                              ("fine-tune", pytest.approx(lr / 10)),
                                                              ("fine-tune", pytest.approx(lr / 10))], last.history
    assert any(line.startswith("phase fine-tune: 1 epoch(s) at lr 0.0001") for line in said), said


def test_an_interrupt_stops_the_fit_at_the_batch_end_without_validating_the_cut_short_epoch():
    """Ctrl-C or SIGTERM mid-epoch: the batch in flight finishes, then the fit stops; the cut-short epoch's
    validation (minutes on a large validation folder) does not run and its epoch does not end; the signal comes
    out when fit has returned. (It had stopped the fit by `stop_training`, after which Keras validates.)"""
    import signal

    import tf_keras as keras

    from edgebb.core import interrupts
    from edgebb.training.checkpoints import fit_interruptibly

    model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = np.zeros((32, 4), np.float32), np.zeros(32, np.int32)
    seen = {"train": 0, "test": 0, "epochs": 0}

    class Watch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen["train"] += 1
            if seen["train"] == 3:  # the signal, as interrupts' handler records it while the fit defers it
                interrupts._pending = signal.SIGTERM

        def on_test_batch_end(self, batch, logs=None):
            seen["test"] += 1

        def on_epoch_end(self, epoch, logs=None):
            seen["epochs"] += 1

    try:
        with pytest.raises(interrupts.Terminated):
            fit_interruptibly(model, x, y=y, batch_size=4, epochs=3, validation_data=(x, y), verbose=0,
                              callbacks=[Watch()])
    finally:
        interrupts._pending = None
    assert seen == {"train": 3, "test": 0, "epochs": 0}


@pytest.mark.parametrize("setup, message", [
    ("one_class", "training needs at least 2"),
    ("too_few", "needs at least 2 per class"),
    ("other_val", "--val-data classes"),
])
def test_bad_data(tmp_path, shapes, setup, message):
    from PIL import Image

    data = tmp_path / "data"
    img = Image.new("RGB", (40, 40), (200, 30, 30))
    if setup == "one_class":
        (data / "only").mkdir(parents=True)
        for i in range(4):
            img.save(data / "only" / f"{i}.png")
    else:
        for cls, n in (("a", 3), ("b", 1 if setup == "too_few" else 3)):
            (data / cls).mkdir(parents=True)
            for i in range(n):
                img.save(data / cls / f"{i}.png")
    val = shapes if setup == "other_val" else None
    with pytest.raises(InputError, match=message):
        train("squeezenet_1_1", str(data), str(tmp_path / "m.keras"), size=SIZE, epochs=1, val_data=val)
    assert not (tmp_path / "m.keras").exists()


def test_validation_images_are_never_training_images(tmp_path, shapes):
    """--val-data DATA (the training folder itself) ran without a word and reported training accuracy as validation
    accuracy (a new user's: 83.3% where held-out images gave 69.6%), and chose the saved epoch on it. The same
    folder is refused; a folder holding some training images (by content, under other names) validates on the
    others and says how many it left out."""
    import shutil

    with pytest.raises(InputError, match="every image of --val-data .* is also in --data"):
        train("squeezenet_1_1", shapes, str(tmp_path / "same.keras"), size=SIZE, epochs=1, val_data=shapes)
    assert not (tmp_path / "same.keras").exists()
    val = tmp_path / "val"
    shutil.copytree(shapes, val)
    copied = sorted(val.rglob("*.png"))
    for i, path in enumerate(copied[: len(copied) // 2]):  # half of them renamed: the content is what counts
        path.rename(path.with_name(f"renamed_{i}.png"))
    extra = tmp_path / "extra"
    from edgebb.data.synth import generate

    generate(str(extra), classes=4, per_class=4, size=40, seed=9)
    classes = sorted(d.name for d in val.iterdir() if d.is_dir())
    theirs = sorted(d for d in extra.iterdir() if d.is_dir())
    for cls, other in zip(classes, theirs):  # 4 unseen images per class
        for j, src in enumerate(sorted(other.iterdir())):
            shutil.copy(src, val / cls / f"new_{j}.png")
    said = []
    result = train("squeezenet_1_1", shapes, str(tmp_path / "m.keras"), size=SIZE, epochs=1, batch_size=16,
                   val_data=str(val), progress=CallbackProgress(said.append))
    assert any(f"--val-data: {len(copied)} of its {len(copied) + 16} images are also training images" in line
               for line in said), said
    assert len(result.history) == 1


def test_cli_errors_are_one_line(tmp_path, shapes):
    for args, message in [(["mobilenetv3", "--data", shapes], "unknown backbone"),
                          (["mobilenet_v2", "--data", shapes, "--augment", "blur"], "unknown augmentation 'blur'"),
                          (["mobilenet_v2", "--data", str(tmp_path / "none")], "not found")]:
        result = subprocess.run([sys.executable, "-m", "edgebb", "train", *args, "-o", str(tmp_path / "m.keras")],
                                capture_output=True, text=True)
        assert result.returncode == 2 and message in result.stderr.strip().splitlines()[-1], result.stderr
        assert "Traceback" not in result.stderr


def _qat_int8(name, width):
    import tensorflow as tf

    from edgebb.core.tf import quiet
    from edgebb.models import create_model
    from edgebb.training.qat import quantize_model

    model = create_model(name, width=width, input_size=SIZE, num_classes=4)
    qat = quantize_model(model)
    x = np.random.default_rng(0).normal(size=(4, SIZE, SIZE, 3)).astype(np.float32)
    assert qat(x, training=False).shape == (4, 4)
    converter = keras_converter(qat)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i:i + 1]] for i in range(len(x)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    with quiet():
        return converter.convert()


# MobileNetV3-Small's hard-swish and squeeze-excite go through QAT end to end in tests/test_qat.py (trained, converted,
# accuracy carried over); here only in the slow run. ShuffleNet's channel split is covered only here.
@pytest.mark.parametrize("name, width", [pytest.param("mobilenet_v3_small", 0.75, marks=pytest.mark.slow),
                                         ("shufflenet_v2", 0.5)])
def test_qat_takes_the_layers_the_default_registry_rejects(name, width):
    """Hard-swish, squeeze-excite's Multiply and the channel split get edgebb's QuantizeConfigs; the QAT model
    converts to a full-integer TFLite model."""
    content = _qat_int8(name, width)
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    assert interpreter.get_input_details()[0]["dtype"] == np.int8


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_lite0", "mobilenet_v1", "mobilenet_v2",
                                  "mobilenet_v3_large", "resnet50", "squeezenet_1_0", "squeezenet_1_1"])
def test_qat_every_other_backbone(name):
    from edgebb.models import get_spec

    assert len(_qat_int8(name, get_spec(name).widths[0])) > 0


@pytest.mark.parametrize("name, width", [("mobilenet_v2", 0.35), ("mobilenet_v3_small", 0.75)])
def test_a_quantization_aware_model_counts_the_macs_of_its_float_model(name, width):
    """Its layers are wrapped (QuantizeWrapper): the profile counted 0 MACs, which every int8-qat artifact's manifest
    then said, and bench showed no GMAC/s or % peak for it."""
    from edgebb.build.profile import profile_model
    from edgebb.models import create_model
    from edgebb.training.qat import quantize_model

    model = create_model(name, width=width, input_size=SIZE, num_classes=4)
    float_profile, qat_profile = profile_model(model), profile_model(quantize_model(model))
    assert qat_profile.macs == float_profile.macs > 0
    assert qat_profile.weights_int8_bytes == float_profile.weights_int8_bytes > 0



def test_early_stopping_says_it_stopped(tmp_path, shapes):
    """A 20-epoch run that early stopping ended at epoch 19 said nothing of it; the summary's "of 19" read as if
    19 had been asked for. A note says how many epochs were not run, and why."""
    result = train("squeezenet_1_1", shapes, str(tmp_path / "m.keras"), size=SIZE, epochs=5, batch_size=16,
                   weights=None, augment=(), lr=1e-9, patience=1)  # nothing moves: no epoch improves on the first
    assert result.epochs_run == 2, result.history
    assert "early stopping: 3 of the 5 epochs were not run, as validation accuracy had not improved for 1 epoch(s) " \
           "(--patience)" in result.notes, result.notes
