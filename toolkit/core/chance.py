"""Whether an accuracy can be told from guessing: shared by training (a run that never left chance), conversion (a
model whose quantized copies cannot be judged) and selection (a sweep cell that did not learn)."""

from __future__ import annotations


def indistinguishable_from_chance(accuracy: float, samples: int, classes: int) -> bool:
    """Whether a top-1 `accuracy` (a fraction) on `samples` images is at most two standard errors above guessing
    among `classes`: a model there has near-tied outputs, and what a recipe does to them says little."""
    chance = 1 / classes
    return accuracy <= chance + 2 * (chance * (1 - chance) / samples) ** 0.5
