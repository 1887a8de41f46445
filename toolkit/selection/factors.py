"""The factors of `edgebb recommend` beyond the budgets, in words: how each one given shapes the candidates, and
why few images rule out a model that trained from scratch (edgebb.selection.recommend uses both)."""

from __future__ import annotations

from ..core.errors import InputError
from .grid import SMALL_DATA


def from_scratch(c: dict, images: int) -> str | None:
    """Why `c` is no candidate with only `images` images: what the sweep recorded its model started from
    (`weights`) was random, or, where it recorded nothing (a row of an older store or written by hand), its family
    has no ImageNet weights (`pretrained` False, else the registry). None when it started from ImageNet weights or
    the user's weights file."""
    scratch = f"with {images} images, training from scratch needs far more data than that"
    weights, has = c.get("weights"), _has_imagenet(c)
    if weights == "random":
        asked = ((c.get("provenance") or {}).get("options") or {}).get("weights", "auto")
        name = f"{c['backbone']} {c['width']:g}"
        why = (f"{name} has no ImageNet weights" if has is False else "the sweep ran with --weights none"
               if asked is None else f"ImageNet weights exist for {name} but were not used: they could not be "
               "fetched or loaded")
        return f"trained from random weights in this sweep ({why}): {scratch}"
    if weights is None and (c.get("pretrained") is False or c.get("pretrained") is None and has is False):
        return (f"no pretrained (ImageNet) weights for {c.get('family')}: with {images} images it would train from "
                "scratch, which needs far more data than that")
    return None


def _has_imagenet(c: dict) -> bool | None:
    from ..models import get_spec

    try:
        return get_spec(c["backbone"]).has_imagenet_at(c["width"])
    except InputError:  # a row written by hand for a backbone edgebb does not know
        return None


def factor_lines(budget) -> list[str]:
    """How each factor given shaped the candidates, in words."""
    out = []
    if budget.task != "classification":
        out.append(f"task {budget.task}: only backbones with feature maps at strides 4, 8, 16 and 32 (a feature "
                   "pyramid for the head) are candidates")
    if budget.dataset_size is not None:
        if budget.dataset_size < SMALL_DATA:
            out.append(f"dataset size {budget.dataset_size} (< {SMALL_DATA}): few images favour models that start "
                       "from pretrained ImageNet weights (transfer learning; as the sweep recorded what each model "
                       "started from) and, among near-equals, fewer parameters")
        else:
            out.append(f"dataset size {budget.dataset_size}: enough images that training from scratch is an option")
    if budget.resolution is not None:
        out.append(f"resolution: inputs of at least {budget.resolution} px")
    if budget.max_train_minutes is not None:
        out.append(f"training budget {budget.max_train_minutes:g} min, checked against the training time recorded "
                   "in the sweep")
    return out
