"""Calibrated ranges the TFLite quantizer cannot use: tensors that were zero on every calibration image.

A ReLU that never fires on the calibration images (a dead unit; a model that never learned, whose output is the
same for every image) is calibrated to the range [0, FLT_MIN]. The quantizer makes that a scale of ~1e-8, which
breaks the int8 file twice over: every kernel writing the tensor needs a requantization scale in the thousands
(XNNPACK accepts < 256 and refuses to prepare the whole model: "failed to create XNNPACK runtime"), and every
kernel reading it gets a bias scale of ~1e-12, on which any bias above ~0.01 overflows int32.

Zero is exact on any grid, so such a tensor's calibrated values are kept whatever range it is given; it is given
the model's typical range (the median of its other activation ranges), so the kernels around it requantize
like those elsewhere in the model. Ranges that are merely small are the data's and are left as they are.
"""

from __future__ import annotations

import contextlib

import numpy as np

# what the calibrator records as the maximum of a tensor that was 0 on every image: the smallest normal float32
DEAD = float(np.finfo(np.float32).tiny)


def widen_dead_ranges(calibrated: bytes) -> tuple[bytes, list[str]]:
    """The calibrated model (a .tflite flatbuffer with min/max statistics) with every all-zero range widened to
    the model's median activation range, and the names of the tensors widened (the bytes unchanged if none)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    ranged = [t for g in model.subgraphs or [] for t in g.tensors or []
              if t.quantization is not None and t.quantization.min is not None and len(t.quantization.min)
              and t.quantization.max is not None and len(t.quantization.max)]
    # a tensor that was 0 on every image; one constant at c != 0 is quantized on [min(0, c), max(0, c)], a fine grid
    zero = [max(abs(float(np.min(t.quantization.min))), abs(float(np.max(t.quantization.max)))) <= DEAD
            for t in ranged]
    dead = [t for t, z in zip(ranged, zero) if z]
    if not dead:
        return calibrated, []
    live = [float(np.max(t.quantization.max) - np.min(t.quantization.min)) for t, z in zip(ranged, zero) if not z]
    live = [w for w in live if w > DEAD]
    typical = float(np.median(live)) if live else 1.0
    for t in dead:
        t.quantization.min = np.zeros_like(t.quantization.min)
        t.quantization.max = np.full_like(t.quantization.max, typical)
    names = [(t.name.decode() if isinstance(t.name, bytes) else str(t.name)).split(";")[0] for t in dead]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), names


@contextlib.contextmanager
def dead_ranges_widened(found: list[str]):
    """While converting: the TFLite converter's calibration hands on its statistics with all-zero ranges widened
    (widen_dead_ranges); the names of the tensors widened are appended to `found`."""
    try:  # TensorFlow's own calibrator (2.21); where a TensorFlow lays it out otherwise, convert as it does
        from tensorflow.lite.python.optimize import calibrator

        original = calibrator.Calibrator.calibrate
    except (ImportError, AttributeError):
        yield found
        return

    def calibrate(self, dataset_gen):
        model, names = widen_dead_ranges(original(self, dataset_gen))
        found.extend(names)
        return model

    calibrator.Calibrator.calibrate = calibrate
    try:
        yield found
    finally:
        calibrator.Calibrator.calibrate = original
