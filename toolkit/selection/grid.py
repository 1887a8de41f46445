"""The sweep grid: backbones x widths x input sizes x recipes x targets, from the command line or a TOML file.

`SweepOptions` holds it, validated once at the boundary with the one-line errors users see; `expand` turns it into
the (backbone, width, size) models to train and the cells to measure. A width or size that one backbone does not
offer is skipped for that backbone with a note (`--widths 0.5,1.0` over MobileNetV2 and EfficientNet-Lite0 means
"where it exists"); one that no backbone offers is an error.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, fields

from ..core.checks import (
    check_choice,
    check_int,
    check_number,
    parse_floats,
    parse_ints,
    parse_list,
    split_width,
)
from ..core.errors import InputError, unknown_name

# Bench settings of a sweep: shorter than `edgebb bench`'s defaults, since a sweep measures many cells.
DEFAULT_RUNTIMES = ("litert", "onnxruntime")
SMALL_DATA = 2000  # fewer images than this: "few images" (recommend --dataset-size)


def _strings(value) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


def _augmentations(value) -> tuple[str, ...]:
    """--augment as `edgebb train` takes it: names, a comma-separated string, "none"; None: train's default."""
    from ..training.datasets import AUGMENTATIONS

    if value is None:
        return tuple(AUGMENTATIONS)
    items = _strings(value)
    if items == ("none",):
        return ()
    for item in items:
        if item not in AUGMENTATIONS:
            raise unknown_name("augmentation", item, list(AUGMENTATIONS))
    return items


@dataclass(frozen=True)
class SweepOptions:
    """What a sweep measures and how.

    backbones: registered names, each optionally "name@width" to pin its widths ("mobilenet_v2@0.35").
    widths: width multipliers for backbones without an @width (None: 1.0 where offered, else the smallest).
    sizes, recipes: input sizes and recipe names. targets: target strings ("cpu:4", "litert-gpu",
      "ssh://pi@host?threads=4") or TOML tables (see edgebb.selection.targets). runtimes: the CPU runtimes of
      cpu:N targets. data: an image folder to train on and verify with (None: published accuracy only).
    epochs, batch_size, lr, seed, weights, augment: training (epochs 0 with weights given: no training; lr and
      augment None: edgebb train's defaults, lr each backbone's own).
    calib_samples, eval_samples: conversion. runs, min_seconds, max_seconds, warmup, timeout: measurement.
    jobs: trainings and conversions run at once; executor: how stages run ("local", "ray");
    ray_address: a running Ray cluster's head (HOST:PORT) for executor "ray" (None: an embedded cluster).
    retry_failed: run failed cells again instead of reusing their failure.
    remeasure: measure the finished cells again (their trained models and artifacts reused), a new figure in
      place of the old under the same key: after a run on a busy machine or a throttling device.
    """

    backbones: tuple[str, ...] = ()
    widths: tuple[float, ...] | None = None
    sizes: tuple[int, ...] = (224,)
    recipes: tuple[str, ...] = ("fp32", "int8")
    targets: tuple = ("cpu:1",)
    runtimes: tuple[str, ...] = DEFAULT_RUNTIMES
    data: str | None = None
    epochs: int = 3
    batch_size: int = 32
    lr: float | None = None  # None: each backbone's own (edgebb train's default)
    seed: int = 0
    weights: str | None = "auto"
    augment: tuple[str, ...] | None = None
    calib_samples: int = 100
    eval_samples: int = 100
    runs: int = 30
    min_seconds: float = 1.0
    max_seconds: float | None = 10.0
    warmup: int = 3
    timeout: float = 600.0
    jobs: int = 1
    executor: str = "local"
    ray_address: str | None = None
    retry_failed: bool = False
    remeasure: bool = False

    def __post_init__(self):
        from ..conversion.recipes import RECIPES
        from ..core.formats import FORMATS
        from ..runtimes import RUNTIMES
        from .executors import EXECUTORS

        s = object.__setattr__
        backbones = _strings(self.backbones)
        if not backbones:
            raise InputError("no backbone given: name one or more (edgebb list shows them), or give --config")
        s(self, "backbones", backbones)
        if self.widths is not None:
            s(self, "widths", parse_floats(self.widths, "--widths"))
        s(self, "sizes", tuple(parse_ints(self.sizes, "--sizes")))
        s(self, "recipes", tuple(parse_list(self.recipes, RECIPES, "recipe")))
        s(self, "runtimes", tuple(parse_list(self.runtimes, RUNTIMES, "runtime")))
        for name in self.runtimes:
            if not FORMATS[RUNTIMES[name].format].artifact:
                raise InputError(f"runtime {name} runs the float {RUNTIMES[name].format} model, not a recipe's "
                                 "artifact; a sweep measures artifacts (use "
                                 f"{', '.join(r for r in RUNTIMES if FORMATS[RUNTIMES[r].format].artifact)})")
        targets = _strings(self.targets) if isinstance(self.targets, str) else tuple(self.targets)
        if not targets:
            raise InputError("no target given (--targets cpu:1, cpu:4, litert-gpu, ssh://user@host)")
        s(self, "targets", targets)
        if self.weights in ("none", ""):
            s(self, "weights", None)
        s(self, "augment", _augmentations(self.augment))
        for name, value, low in (("--epochs", self.epochs, 0), ("--batch-size", self.batch_size, 1),
                                 ("--seed", self.seed, 0), ("--calib-samples", self.calib_samples, 1),
                                 ("--eval-samples", self.eval_samples, 1), ("--runs", self.runs, 1),
                                 ("--warmup", self.warmup, 0), ("--jobs", self.jobs, 1)):
            check_int(name, value, low)
        # Numbers as floats, so 0 and 0.0 give the same key.
        if self.lr is not None:
            s(self, "lr", check_number("--lr", self.lr, positive=True))
        s(self, "min_seconds", check_number("--min-seconds", self.min_seconds, 0))
        s(self, "timeout", check_number("--timeout", self.timeout, positive=True))
        if self.max_seconds is not None:
            s(self, "max_seconds", check_number("--max-seconds", self.max_seconds, positive=True))
        from ..benchmark.options import check_seconds

        s(self, "min_seconds", check_seconds(self.min_seconds, self.max_seconds, default=SweepOptions.min_seconds))
        check_choice("--executor", self.executor, list(EXECUTORS))
        if self.ray_address and self.executor != "ray":
            raise InputError("--ray-address is the head of a Ray cluster: it needs --executor ray")
        if self.data is not None and self.epochs == 0 and self.weights in (None, "auto"):
            raise InputError("--epochs 0 skips training, which needs the weights to convert: give --weights imagenet "
                             "or a weights file (or train for at least 1 epoch)")
        trained = [r for r in self.recipes if RECIPES[r].qat]
        if trained and self.data is None:
            raise InputError(f"recipe {trained[0]} fine-tunes with fake quantization, which needs labelled images: "
                             "give --data")

    @property
    def bench(self) -> dict:
        """The bench settings every measurement of this sweep uses (part of each cell's key)."""
        return {"runs": self.runs, "min_seconds": self.min_seconds, "max_seconds": self.max_seconds,
                "warmup": self.warmup, "timeout": self.timeout}

    def train(self, backbone: str) -> dict:
        """The settings `backbone` is trained with (part of its trained model's key): the learning rate is its
        own unless --lr gave one, so the key changes if that default does."""
        from ..models import get_spec

        lr = self.lr if self.lr is not None else get_spec(backbone).train_lr
        return {"epochs": self.epochs, "batch_size": self.batch_size, "lr": lr, "seed": self.seed,
                "weights": self.weights, "augment": list(self.augment)}

    @property
    def convert(self) -> dict:
        return {"calib_samples": self.calib_samples, "eval_samples": self.eval_samples, "seed": self.seed,
                "weights": self.weights if self.weights != "auto" else None}

    def to_dict(self) -> dict:
        data = asdict(self)
        data["targets"] = [t if isinstance(t, str) else dict(t) for t in self.targets]
        return data

    @classmethod
    def from_kwargs(cls, options: SweepOptions | None, kwargs: dict) -> SweepOptions:
        """`options` with `kwargs` on top (the Python API's keywords); InputError for an unknown keyword."""
        known = {f.name for f in fields(cls)}
        for key in kwargs:
            if key not in known:
                raise unknown_name("sweep option", key, sorted(known))
        return cls(**{**(asdict(options) if options else {}), **kwargs})


# ------------------------------------------------------------------------------------------------ TOML files

_TOML_SECTIONS = ("train", "convert", "bench")


def read_config(path: str) -> dict:
    """The sweep settings of a TOML file as SweepOptions keywords (plus "output"), paths relative to the file.

    Top-level keys are SweepOptions fields; [train], [convert] and [bench] tables may group theirs; [[target]]
    tables describe targets with their own options. Raises InputError for a missing or malformed file and for
    unknown keys (with close matches)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise InputError("reading --config needs Python 3.11, or pip install tomli") from None
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise InputError(f"config file not found: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}") from None
    known = {f.name for f in fields(SweepOptions)} | {"output"}
    flat: dict = {}
    for key, value in raw.items():
        if key in _TOML_SECTIONS and isinstance(value, dict):
            for sub, v in value.items():
                if sub not in known:
                    raise unknown_name(f"[{key}] setting in {path}:", sub, sorted(known))
                flat[sub] = v
        elif key == "target":
            flat.setdefault("targets", [])
            flat["targets"] = list(flat["targets"]) + (value if isinstance(value, list) else [value])
        elif key not in known:
            raise unknown_name(f"setting in {path}:", key, sorted(known | {"target", *_TOML_SECTIONS}))
        elif key == "targets" and "targets" in flat:
            flat["targets"] = list(value) + list(flat["targets"])
        else:
            flat[key] = value
    base = os.path.dirname(os.path.abspath(path))
    for key in ("data", "output"):
        if isinstance(flat.get(key), str) and not os.path.isabs(os.path.expanduser(flat[key])):
            flat[key] = os.path.join(base, flat[key])
    return flat


# -------------------------------------------------------------------------------------------------- expansion


@dataclass(frozen=True)
class ModelConfig:
    """One (backbone, width, input size): trained once, converted with each recipe."""

    backbone: str
    width: float
    size: int

    @property
    def label(self) -> str:
        return f"{self.backbone} {self.width:g} @{self.size}"

    @property
    def slug(self) -> str:
        return f"{self.backbone}_{self.width:g}_{self.size}"


@dataclass
class Grid:
    """The expanded grid: models in order, and the notes on what was skipped."""

    models: list[ModelConfig]
    notes: list[str] = field(default_factory=list)


def _split_pin(item: str) -> tuple[str, tuple[float, ...] | None]:
    """(name, pinned widths) of "name@width", checked as bench checks one (edgebb.benchmark.targets.backbone_at:
    "name@" or a width the backbone lacks is an InputError naming the item); no widths for "name"."""
    from ..benchmark.targets import backbone_at

    name, text = split_width(item)
    return name, (None if text is None else tuple(width for _, width in backbone_at(item)))


def default_width(widths: tuple[float, ...]) -> float:
    return 1.0 if 1.0 in widths else min(widths)


def expand(opts: SweepOptions) -> Grid:
    """The models of the grid; InputError for an unknown backbone, or a width or size no backbone offers."""
    from ..models import get_spec

    models: list[ModelConfig] = []
    notes: list[str] = []
    used_widths: set[float] = set()
    used_sizes: set[int] = set()
    for item in opts.backbones:
        name, pinned = _split_pin(item)
        spec = get_spec(name)  # unknown: InputError with close matches
        widths = pinned or opts.widths or (default_width(spec.widths),)
        for width in widths:
            try:
                width = spec.check_width(width)
            except InputError:
                if pinned:
                    raise
                notes.append(f"{name} has no width {width:g} (it has {', '.join(f'{w:g}' for w in spec.widths)}); "
                             "skipped")
                continue
            used_widths.add(width)
            for size in opts.sizes:
                try:
                    spec.check_size(size)
                except InputError as exc:
                    notes.append(f"{name}: {exc}; skipped")
                    continue
                used_sizes.add(size)
                model = ModelConfig(name, width, size)
                if model not in models:
                    models.append(model)
    for width in opts.widths or ():
        if not any(abs(width - w) < 1e-9 for w in used_widths):
            raise InputError(f"no backbone of the grid has width {width:g}{_pins_note(opts.backbones, width)}")
    for size in opts.sizes:
        if size not in used_sizes:  # what each backbone takes (it named the first backbone's rule alone)
            rules = {}
            for name in dict.fromkeys(_split_pin(b)[0] for b in opts.backbones):
                spec = get_spec(name)
                rules.setdefault(f"a multiple of {spec.size_multiple}, at least {spec.min_size}", []).append(name)
            raise InputError(f"no backbone of the grid takes input size {size} ("
                             + "; ".join(f"{', '.join(names)}: {rule}" for rule, names in rules.items()) + ")")
    return Grid(models, notes)


def _pins_note(backbones: tuple[str, ...], width: float) -> str:
    """Why --widths did not reach a backbone given as name@width: the pin overrides --widths for it."""
    from ..models import get_spec

    pinned = [item for item in backbones if split_width(item)[1] is not None]
    if not pinned:
        return ""
    one = len(pinned) == 1
    text = (f" ({', '.join(pinned)} {'pins its width' if one else 'pin their widths'} with @, which "
            f"{'overrides --widths for it' if one else 'override --widths for them'}")
    for name, widths in map(split_width, pinned):
        if any(abs(width - w) < 1e-9 for w in get_spec(name).widths):
            return text + (f": give {name} without @ to sweep --widths, or add the width to the pin, "
                           f"{name}@{widths}+{width:g})")
    return text + ")"


# ------------------------------------------------------------------------------------------ published figures


def published_accuracy(backbone: str, width: float, size: int, recipe) -> tuple[float | None, str | None]:
    """(top-1 as a fraction, "published: SOURCE") for a configuration the literature measured: the backbone's
    float model at that width and at the input size the figure was published for. A recipe that changes the
    arithmetic (int8, dynamic) has no published figure: (None, None). Never estimated."""
    from ..models import get_spec

    spec = get_spec(backbone)
    top1 = spec.published_top1.get(width)
    if top1 is None or recipe.activations != "float32" or recipe.weights not in ("float32", "float16"):
        return None, None
    if size != published_size(spec):
        return None, None
    return top1 / 100.0, f"published: {spec.top1_source}"


def published_size(spec) -> int:
    """The input size a backbone's published top-1 was measured at: the "NxN" its source names, else 224."""
    match = re.search(r"\b(\d{2,4})x\1\b", spec.top1_source or "")
    return int(match.group(1)) if match else 224
