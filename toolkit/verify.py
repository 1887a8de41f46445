"""Does an exported artifact still compute what the float model computes?

Compares an artifact's outputs with the Keras float model's on the same preprocessed inputs: top-1 agreement,
top-1 accuracy of both when labels exist, max abs error and cosine similarity of the output vectors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Verification:
    """Figures of one artifact against the float model. Percentages are in points (0..100).

    `accuracy`, `reference_accuracy` and `drop` (accuracy lost, in points) are None without labels that match the
    model's classes; the budget (`drop <= max_drop`) is then not checked and `passed` is None: a top-1
    disagreement is not an accuracy loss, and on a model with random weights it says nothing about quantization.
    """

    samples: int
    top1_agreement: float
    accuracy: float | None
    reference_accuracy: float | None
    max_abs_error: float
    mean_abs_error: float
    cosine: float
    drop: float | None
    max_drop: float
    passed: bool | None
    random_samples: int = 0
    random_top1_agreement: float | None = None
    random_max_abs_error: float | None = None

    def to_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    num = (a * b).sum(axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.mean(np.where(den > 0, num / np.maximum(den, 1e-30), 1.0)))


def top1(outputs: np.ndarray) -> np.ndarray:
    return outputs.reshape(len(outputs), -1).argmax(axis=1)


def compare(reference: np.ndarray, got: np.ndarray, labels: np.ndarray | None, max_drop: float,
            random_reference: np.ndarray | None = None, random_got: np.ndarray | None = None) -> Verification:
    """Figures for `got` (artifact outputs) against `reference` (float outputs) on the same inputs.

    The budget `max_drop` is checked on accuracy lost, so only with `labels`.
    """
    ref_top, got_top = top1(reference), top1(got)
    agreement = 100.0 * float(np.mean(ref_top == got_top))
    diff = np.abs(reference.astype(np.float64) - got.astype(np.float64))
    accuracy = reference_accuracy = drop = passed = None
    if labels is not None:
        accuracy = 100.0 * float(np.mean(got_top == labels))
        reference_accuracy = 100.0 * float(np.mean(ref_top == labels))
        drop = reference_accuracy - accuracy
        passed = drop <= max_drop + 1e-9
    extra = {}
    if random_reference is not None and random_got is not None:
        extra = {
            "random_samples": len(random_reference),
            "random_top1_agreement": 100.0 * float(np.mean(top1(random_reference) == top1(random_got))),
            "random_max_abs_error": float(np.abs(random_reference - random_got).max()),
        }
    return Verification(
        samples=len(reference), top1_agreement=agreement, accuracy=accuracy, reference_accuracy=reference_accuracy,
        max_abs_error=float(diff.max()), mean_abs_error=float(diff.mean()), cosine=_cosine(reference, got),
        drop=drop, max_drop=max_drop, passed=passed, **extra,
    )
