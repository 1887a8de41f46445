"""`TrainOptions`: everything `edgebb train` and `edgebb.train()` take besides the backbone, the data and the
output, validated once with the one-line errors users see."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..core.checks import check_int, check_number
from ..core.errors import InputError, unknown_name
from .datasets import AUGMENTATIONS


@dataclass(frozen=True)
class TrainOptions:
    """How to train. `weights` is "auto" (ImageNet where the family has it), "imagenet", None (random) or a
    weights file; `augment` a tuple of AUGMENTATIONS (or a comma-separated string, or "none")."""

    width: float = 1.0
    size: int = 224
    epochs: int = 10
    batch_size: int = 32
    lr: float | None = None  # None: the backbone's own (BackboneSpec.train_lr)
    seed: int = 0
    val_split: float = 0.2
    val_data: str | None = None
    fine_tune_blocks: int = 2
    augment: tuple[str, ...] = AUGMENTATIONS
    weights: str | None = "auto"
    patience: int = 5
    qat: bool = False
    qat_epochs: int = 3
    resume: bool = False

    def __post_init__(self):
        augment = self.augment
        if isinstance(augment, str):
            augment = () if augment.strip() == "none" else tuple(a.strip() for a in augment.split(",") if a.strip())
        for kind in augment:
            if kind not in AUGMENTATIONS:
                raise unknown_name("augmentation", kind, list(AUGMENTATIONS))
        object.__setattr__(self, "augment", tuple(augment))
        if self.weights == "none":
            object.__setattr__(self, "weights", None)
        for name, value, low in (("--epochs", self.epochs, 1), ("--batch-size", self.batch_size, 1),
                                 ("--patience", self.patience, 1), ("--fine-tune-blocks", self.fine_tune_blocks, 0),
                                 ("--qat-epochs", self.qat_epochs, 1), ("--seed", self.seed, 0)):
            check_int(name, value, low)
        if self.lr is not None:
            check_number("--lr", self.lr, positive=True)
        if not 0 < check_number("--val-split", self.val_split) < 1:
            raise InputError(f"--val-split must be between 0 and 1; received {self.val_split}")

    def to_dict(self) -> dict:
        return {**asdict(self), "augment": list(self.augment)}

    @classmethod
    def from_kwargs(cls, options: TrainOptions | None, kwargs: dict) -> TrainOptions:
        """`options` with `kwargs` applied on top (the Python API's keyword arguments); InputError for an
        unknown keyword."""
        known = {f.name for f in fields(cls)}
        for key in kwargs:
            if key not in known:
                raise unknown_name("train option", key, sorted(known))
        base = asdict(options) if options else {}
        return cls(**{**base, **kwargs})
