"""What a benchmark measures: `Target`s (one model at one recipe, with its artifact per format) from artifact
files, manifest.json files or the folders holding them, and backbone names, optionally at a width
("mobilenet_v2@0.35"; converted once into the cache).

Nothing here imports TensorFlow unless a backbone name has to be converted, so on a device with only
`edgebb[device]` installed, benchmarking .tflite artifacts and their manifests works.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field

from ..core.cache import cache_dir
from ..core.checks import parse_widths, split_width
from ..core.errors import InputError
from ..core.formats import FORMATS, format_for
from ..core.progress import Progress, as_progress
from .manifests import macs_of, random_weights_of, read_manifest, width_of


@dataclass
class Target:
    """One model at one recipe, with its artifact per format."""

    model: str
    recipe: str
    artifacts: dict[str, str] = field(default_factory=dict)  # format -> path
    macs: int | None = None
    preprocessing: dict | None = None
    input_size: int | None = None
    verification: dict[str, dict] = field(default_factory=dict)  # format -> the conversion's verification
    width: float | None = None  # the backbone's width multiplier, where a manifest or the name@width says it
    random_weights: bool | None = None  # its manifest's source says weights "random" (None: no manifest says)


def missing_file(target: Target, fmt: str) -> str:
    """Why a runtime that loads files of format `fmt` has nothing of `target` to run (one line)."""
    known = FORMATS[fmt]
    if known.artifact:
        return f"no {fmt} artifact for {target.model} {target.recipe}"
    # the float model itself (keras), which bench is never given alone: an artifact converted from it is not it
    suffixes = "/".join(known.suffixes)
    return (f"no {fmt} model for {target.model} {target.recipe}: only float recipes have one, and only for a "
            f"backbone name or from the manifest.json of a conversion from a {suffixes} file")


def artifact_problem(path: str) -> str | None:
    """Why `path` is not a benchmarkable artifact (one line), or None if it looks like one."""
    fmt = format_for(path)
    if fmt is None or not fmt.artifact:
        return f"{path}: not a .tflite or .onnx artifact (or a manifest.json)"
    problem = fmt.problem(path) or fmt.damage(path)
    return f"{path}: {problem}" if problem else None


def from_manifest(path: str, *, skip_missing: bool = False) -> list[Target]:
    """The targets a manifest.json describes, one per recipe; InputError if it is not an edgebb manifest, or if an
    artifact it lists is missing (unless `skip_missing`: an artifact benched alone needs only its own entry)."""
    folder = os.path.dirname(os.path.abspath(path))
    manifest = read_manifest(path)
    entries = manifest["artifacts"]
    source = manifest.get("source", {})
    model = source.get("backbone") if isinstance(source.get("backbone"), str) else None
    if model is None:
        model = (source.get("backbone") or {}).get("name") if isinstance(source.get("backbone"), dict) else None
    targets: dict[tuple, Target] = {}
    try:
        for entry in entries:
            artifact = os.path.join(folder, entry["path"])
            if not os.path.exists(artifact):
                if skip_missing:
                    continue
                raise InputError(f"{path}: {entry['path']}, listed in it, is missing")
            entry_source = entry.get("source") or source
            backbone = entry_source.get("backbone")
            name = (backbone if isinstance(backbone, str) else (backbone or {}).get("name")) or model \
                or os.path.basename(entry["path"]).rsplit("_", 1)[0]
            size, width = (entry.get("preprocessing") or {}).get("size"), width_of(entry_source)
            name = label(name, width)  # as bench names a backbone at a width: mobilenet_v2@0.35
            t = targets.setdefault((name, entry["recipe"], size), Target(
                model=name, recipe=entry["recipe"], macs=macs_of(entry, manifest),
                preprocessing=entry.get("preprocessing"), input_size=size, width=width,
                random_weights=random_weights_of(entry_source)))
            t.artifacts[entry["format"]] = artifact
            if entry.get("verification"):
                t.verification[entry["format"]] = entry["verification"]
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: not an edgebb manifest ({type(exc).__name__}: {exc})") from exc
    keras = FORMATS["keras"]
    if source.get("kind") == "file" and source.get("path", "").endswith(keras.suffixes):
        for t in targets.values():
            if _is_float(t.recipe) and os.path.exists(source["path"]):
                t.artifacts[keras.name] = source["path"]  # the float model itself, for the keras runtime
    return list(targets.values())


def _is_float(recipe: str) -> bool:
    from ..conversion.recipes import RECIPES

    known = RECIPES.get(recipe, default=None)
    return bool(known and known.is_float)


def from_file(path: str) -> Target:
    """An artifact on its own; its manifest (if one sits beside it) supplies model name, MACs and preprocessing."""
    manifest = os.path.join(os.path.dirname(os.path.abspath(path)), "manifest.json")
    if os.path.exists(manifest):
        for t in from_manifest(manifest, skip_missing=True):
            for fmt, p in t.artifacts.items():
                if os.path.abspath(p) == os.path.abspath(path):
                    return Target(model=t.model, recipe=t.recipe, artifacts={fmt: p}, macs=t.macs,
                                  preprocessing=t.preprocessing, input_size=t.input_size,
                                  verification={k: v for k, v in t.verification.items() if k == fmt}, width=t.width,
                                  random_weights=t.random_weights)
    from ..conversion.recipes import RECIPES

    stem = os.path.splitext(os.path.basename(path))[0]
    model, _, recipe = stem.rpartition("_")
    if not model or recipe not in RECIPES:  # my_model.tflite: "model" is not a recipe
        model, recipe = stem, "unknown"
    return Target(model=model, recipe=recipe, artifacts={format_for(path).name: path}, input_size=probe_size(path))


def probe_size(path: str) -> int | None:
    """The square input size of an artifact without a manifest, read from the model by its default runtime (None
    when that runtime cannot load it here, or the input is not a square image)."""
    from ..core.native import stderr_silenced
    from ..runtimes import RuntimeUnavailable, load_artifact

    try:
        with stderr_silenced(), load_artifact(path) as session:
            shape = session.inputs[0].shape
    except (InputError, RuntimeUnavailable):
        return None
    return int(shape[1]) if len(shape) == 4 and shape[1] == shape[2] and shape[1] > 0 else None


def _stale(manifest: str) -> str | None:
    """Why a cached conversion cannot be reused (its manifest unreadable, or made by other conversion code than
    this edgebb's), or None."""
    from ..conversion.manifest import converter_revision

    try:
        with open(manifest) as f:
            made_by = json.load(f).get("converter")
    except (OSError, ValueError, AttributeError):
        return "its manifest is unreadable"
    return None if made_by == converter_revision() else "it was converted by other edgebb code"


def label(name: str, width: float | None) -> str:
    """How a row names backbone `name` at `width`: by its name at 1.0 (or an unknown width), else as bench takes it
    ("mobilenet_v2@0.35")."""
    return name if width is None or width == 1.0 else f"{name}@{width:g}"


def convert_backbone(name: str, recipe: str, formats: list[str], size: int, progress: Progress | None, *,
                     width: float = 1.0) -> Target:
    """Convert backbone `name` at `width` with `recipe` (random weights, generated calibration data) into the cache,
    once. The cache folder names the width unless it is 1.0 (that folder is the one a bare name always had)."""
    stem = name if width == 1.0 else f"{name}_{width:g}"
    out = cache_dir("artifacts", f"{stem}_{size}_{recipe}")
    wanted = [f for f in formats if FORMATS[f].artifact]
    if wanted:
        target = _converted(name, width, recipe, wanted, size, out, progress)
    else:  # only the float model itself (the keras runtime): nothing to convert
        from ..models import preprocessing_for

        target = Target(model=label(name, width), recipe=recipe, input_size=size, width=width, random_weights=True,
                        preprocessing=preprocessing_for(name, size).to_dict())
    if "keras" in formats and _is_float(recipe):
        keras_path = os.path.join(out, f"{stem}.keras")
        macs = _cached_keras(keras_path, name, width, size)
        if target.macs is None:  # not converted, so no manifest says them
            target.macs = macs
        target.artifacts["keras"] = keras_path
    return target


def _cached_keras(path: str, name: str, width: float, size: int) -> int:
    """The MACs of backbone `name` at `width` and `size`, saved (random weights) as `path` unless already there.

    They are kept beside it in PATH.json, so a cached model is not built again only to count them (which also
    imported TensorFlow here). A model without that file, or made by other model code (its `converter` digest, as a
    cached conversion's manifest has), is built and saved again."""
    from ..conversion.manifest import converter_revision

    sidecar, revision = path + ".json", converter_revision()
    try:
        with open(sidecar) as f:
            known = json.load(f)
        if os.path.exists(path) and known.get("converter") == revision and isinstance(known.get("macs"), int):
            return known["macs"]
    except (OSError, ValueError, AttributeError):
        pass
    from ..build.profile import profile_model
    from ..core.files import atomic_path, write_atomic
    from ..models import create_model

    os.makedirs(os.path.dirname(path), exist_ok=True)
    model = create_model(name, width=width, input_size=size)
    with atomic_path(path) as tmp:
        model.save(tmp)
    macs = profile_model(model).macs
    write_atomic(sidecar, json.dumps({"macs": macs, "converter": revision, "width": width, "input_size": size}))
    return macs


def _converted(name: str, width: float, recipe: str, wanted: list[str], size: int, out: str,
               progress: Progress | None) -> Target:
    """The target of backbone `name` at `width` converted to `recipe` in the `wanted` artifact formats, cached in
    `out`."""
    from ..conversion import convert

    manifest = os.path.join(out, "manifest.json")
    stale = _stale(manifest) if os.path.exists(manifest) else None
    if stale:  # another edgebb's exporters may have made something else of the same backbone
        as_progress(progress).say(f"cached {label(name, width)} ({recipe}) cannot be reused, {stale}: converting "
                                  "again")
        shutil.rmtree(out)
    have = {t.recipe: t for t in from_manifest(manifest)} if os.path.exists(manifest) else {}
    if recipe not in have or not set(wanted) <= set(have[recipe].artifacts):
        say = as_progress(progress)
        at = "" if width == 1.0 else f" at width {width:g}"
        say.say(f"converting {name}{at} to {recipe} ({', '.join(wanted)}) at {size}x{size}, random weights; "
                f"cached in {out}")
        # The conversion's own steps (building, calibrating, the converter, verifying) take minutes for a large
        # backbone: they report under this line rather than leaving the user with one line and no sign of life.
        convert(name, out, None, recipes=recipe, formats=",".join(wanted), width=width, size=size, calib_samples=64,
                eval_samples=32, progress=say.nested())
        have = {t.recipe: t for t in from_manifest(manifest)}
    target = have[recipe]
    target.model, target.width = label(name, width), width
    return target


def backbone_at(item: str) -> list[tuple[str, float]]:
    """The (backbone, width) pairs of a bench item "name@width" ("mobilenet_v2@0.35"; several widths joined by "+",
    as sweep takes them), checked before anything is converted: InputError in one line naming the item (and the
    widths the backbone has)."""
    from ..models import get_spec

    name, text = split_width(item)
    try:
        spec = get_spec(name)
    except InputError as exc:
        raise InputError(f"{item}: {exc}") from None
    def refused(received: str) -> InputError:
        return InputError(f"{item}: width for {name} must be {spec.width_rule}; received {received}")

    try:
        widths = parse_widths(item, text)
    except InputError:
        raise refused(text.strip() or 'nothing after "@"') from None
    pairs = []
    for width in widths:
        try:
            pairs.append((name, spec.check_width(width)))
        except InputError:
            raise refused(f"{width:g}") from None
    return pairs


def baseline_at(baseline: str) -> tuple[str, float]:
    """(backbone, width) of a --baseline: "resnet50", or a backbone at one width, "mobilenet_v2@0.35" (rows name it
    `label(name, width)`); InputError for an unknown name or a width the backbone lacks."""
    from ..models import get_spec

    if "@" not in baseline:
        get_spec(baseline)
        return baseline, 1.0
    pairs = backbone_at(baseline)
    if len(pairs) != 1:
        raise InputError(f"{baseline}: a baseline is one backbone at one width")
    return pairs[0]


def _is_pin(item: str) -> bool:
    """Whether `item` names a backbone at a width rather than a file: "mobilenet_v2@0.35", not "a@b.tflite"."""
    return "@" in item and os.path.sep not in item and format_for(item) is None and not os.path.exists(item)


def collect_targets(items: list[str], *, recipes: list[str], formats: list[str], size: int,
                    progress: Progress | None = None, baseline: str | None = None) -> list[Target]:
    """Targets for artifacts, manifests (or folders with one) and backbone names, optionally at a width
    ("mobilenet_v2@0.35"; one target per recipe). Bad items raise one InputError whose message has one line per
    item, before anything is converted: a backbone name's `size` is checked as convert checks it, and so is the
    `baseline` backbone's name and, where backbone names are converted at `size` to be compared with it, its size."""
    from ..models import get_spec, list_models

    def listed(manifest: str) -> list[Target]:
        found = from_manifest(manifest)
        problems.extend(p for t in found for fmt, path in t.artifacts.items() if FORMATS[fmt].artifact
                        for p in [artifact_problem(path)] if p)
        return found

    targets, problems = [], []
    for item in items:
        if os.path.isdir(item) and os.path.exists(os.path.join(item, "manifest.json")):
            targets += listed(os.path.join(item, "manifest.json"))
        elif item.endswith(".json"):
            if not os.path.exists(item):
                problems.append(f"{item}: manifest not found")
            else:
                targets += listed(item)
        elif item in list_models():
            targets.append((item, 1.0))  # (backbone, width): converted below once the problems are known
        elif _is_pin(item):
            try:
                targets += backbone_at(item)
            except InputError as exc:
                problems.append(str(exc))
        elif os.path.isdir(item):  # no manifest: the artifacts in it, each as a file of its own
            found = [os.path.join(item, n) for n in sorted(os.listdir(item))
                     if format_for(n) is not None and format_for(n).artifact]
            if not found:
                problems.append(f"{item}: a folder without a manifest.json or any .tflite or .onnx file (bench reads "
                                "artifacts, a manifest.json or the folder edgebb convert wrote it into)")
            for path in found:
                problem = artifact_problem(path)
                if problem:
                    problems.append(problem)
                else:
                    targets.append(from_file(path))
        elif os.path.splitext(item)[1] or os.path.sep in item:
            problem = artifact_problem(item)
            if problem:
                problems.append(problem)
            else:
                targets.append(from_file(item))
        elif os.path.exists(item):
            problems.append(f"{item}: not a .tflite or .onnx artifact (or a manifest.json)")
        else:
            try:
                get_spec(item)
            except InputError as exc:
                problems.append(str(exc))
    named = list(dict.fromkeys(t[0] for t in targets if isinstance(t, tuple)))  # (backbone, width) pairs
    for name in named:  # one line per backbone, however many widths or items name it
        try:
            get_spec(name).check_size(size)
        except InputError as exc:
            problems.append(str(exc))
    if baseline:
        try:
            base = baseline_at(baseline)
            if any(t != base for t in targets if isinstance(t, tuple)):  # converted at `size` to compare with them
                get_spec(base[0]).check_size(size)
        except InputError as exc:
            why = str(exc).removeprefix(f"{baseline}: ")  # a width's message names the item already
            problems.append(f"--baseline {baseline}: {why} (--baseline none benches without one)")
    if named:
        from ..conversion.recipes import get_recipe

        trained = [r for r in recipes if get_recipe(r).qat]
        if trained:
            problems.append(f"recipe {trained[0]} needs a trained model, and backbone names are benched with random "
                            "weights: make it with edgebb convert MODEL --recipe int8-qat --data DIR and bench the "
                            "manifest.json it writes")
    if problems:
        raise InputError("\n".join(problems))
    try:
        out = []
        for t in targets:
            if isinstance(t, tuple):
                name, width = t
                out += [convert_backbone(name, recipe, formats, size, progress, width=width) for recipe in recipes]
            else:
                out.append(t)
        return out
    except ImportError as exc:
        raise InputError(f"benchmarking a backbone by name converts it first, which needs the TensorFlow side "
                         f"({exc.name} is not installed: pip install 'edgebb[full]'); bench .tflite artifacts "
                         "or a manifest.json instead") from exc
