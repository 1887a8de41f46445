"""`edgebb convert`: a backbone or a saved Keras model to verified .tflite / .onnx artifacts and a manifest.

Every artifact is run in its own runtime (LiteRT for .tflite, ONNX Runtime for .onnx) beside the Keras float
model on held-out images, and its figures go into the manifest. Files are written atomically, so an error or
Ctrl-C never leaves a half-written artifact or manifest and never damages what OUT already held.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field

import numpy as np

from ..core import interrupts
from ..core.chance import indistinguishable_from_chance
from ..core.errors import CheckFailed, InputError
from ..core.files import check_can_create_dir, check_outside, write_atomic
from ..core.progress import Progress, as_progress
from ..core.serialize import to_json
from ..core.tf import quiet
from .calibration import EvalData, prepare_data
from .exporters import ExportContext, exporter_needs, get_exporter
from .exporters.onnx import weight_bits, weight_bits_note
from .manifest import Artifact, build_manifest, check_one_model, merge, read_manifest
from .mixed_precision import REPAIRS
from .options import ConvertOptions
from .qat_source import check_qat_plan, float_architecture, quantization_aware
from .recipes import Recipe, plan
from .source import Source, artifact_stem, check_source, expected_source, resolve_source
from .verify import Budget, Unloadable, refuse, top1, verify_content


@dataclass
class ConvertResult:
    """What `convert` produced: the artifacts with their verification, and where the manifest is."""

    out_dir: str
    manifest_path: str
    source: Source
    data: dict
    artifacts: list[Artifact]
    notes: list[str]
    manifest: dict
    # artifacts made but not written, each (path, one line why): their runtime could not load them
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> list[Artifact]:
        """Artifacts that lost more accuracy than the budget allows."""
        return [a for a in self.artifacts if a.verification.passed is False]


def convert(source: str, out_dir: str, data: str | None = None, options: ConvertOptions | None = None, *,
            progress: Progress | None = None, **kwargs) -> ConvertResult:
    """Convert `source` (a backbone name or a saved Keras model) into verified artifacts in `out_dir`.

    Args:
      data: an image folder with one subfolder per class, split into calibration and held-out evaluation
        images; without it a generated shapes set stands in (and the manifest says so).
      options: a ConvertOptions; keyword arguments naming its fields (recipes="fp32,int8", formats="tflite,onnx",
        width=0.5, max_drop=0.5, ...) apply on top.

    Returns a ConvertResult; artifacts that broke the budget are in `result.failed` (the CLI exits 1).
    Raises InputError for bad input: unknown names, bad options, missing or unreadable data, a corrupt model,
    an unwritable OUT or one holding another model's artifacts, a layer the converter cannot handle.
    """
    opts = ConvertOptions.from_kwargs(options, kwargs)
    say = as_progress(progress)
    pairs, notes = plan(list(opts.recipes), list(opts.formats))
    # Everything that can be wrong with the input is found here, before TensorFlow is imported.
    if opts.auto_fallback:
        _check_fallback(pairs)
    meta = check_source(source, opts.width, opts.size)
    existing, targets, listed = _check_out_dir(out_dir, pairs, artifact_stem(source, opts.width, opts.size, meta))
    check_outside(out_dir, data, "output folder")
    trained_on = set((meta or {}).get("training_images", {}).get("fingerprints", [])) or None
    validation = set((meta or {}).get("validation_images", {}).get("fingerprints", [])) or None
    build = {"width": opts.width, "size": opts.size, "classes": opts.classes, "weights": opts.weights,
             "seed": opts.seed, "labels": _labels_of(data, trained_on)}
    check_one_model(existing, out_dir, expected_source(source, meta, **build))  # one folder, one model
    tune = check_qat_plan(meta, pairs, data, source)
    say.say(f"loading {source}" if meta is not None else f"building {source}")
    src = resolve_source(source, **build)
    # what a model file's metadata could not say (its input size, preprocessing and labels), before any image is read
    check_one_model(existing, out_dir, {"source": src.config, "preprocessing": src.preprocessing.to_dict(),
                                        "labels": src.labels})
    needs_calib = any(r.calibrated for r, _ in pairs)
    ev = prepare_data(data, src.preprocessing, labels=src.labels,
                      calib_samples=opts.calib_samples, calib_load=None if needs_calib else min(opts.calib_samples, 64),
                      seed=opts.seed, eval_samples=opts.eval_samples, train=tune, trained_on=trained_on,
                      chose_checkpoint=validation, progress=progress)
    notes += _data_notes(ev.description, data)
    notes += _source_notes(src, ev, pairs)
    say.say(f"float reference on {len(ev.eval_x)} evaluation and {len(ev.random_x)} random inputs")
    reference = src.model.predict(ev.eval_x, batch_size=8, verbose=0)
    random_reference = src.model.predict(ev.random_x, batch_size=8, verbose=0)
    release_memory()
    unjudged = _unjudged(src, ev, reference, opts, notes)
    notes += _resolution_note(ev, opts, unjudged or all(r.is_float for r, _ in pairs))
    qat = quantization_aware(src, ev, reference, tune, opts, progress) if any(r.qat for r, _ in pairs) else None

    manifest_path = os.path.join(out_dir, "manifest.json")
    artifacts: list[Artifact] = []
    refused: list[tuple[str, str]] = []
    manifest: dict = {}
    ctx = ExportContext(size=src.preprocessing.size, calib=ev.calib, io_dtype=opts.io_dtype, opset=opts.opset,
                        calib_method=opts.calib_method)
    needs = exporter_needs(pairs)
    if "weight_bits" in needs:
        ctx.onnx_weight_bits, ctx.onnx_weight_bits_because = weight_bits(opts.onnx_weight_bits)
        notes.append(weight_bits_note(ctx.onnx_weight_bits, opts.onnx_weight_bits))
    if "float_architecture" in needs:
        ctx.qat_architecture = float_architecture(src)
    with say.step("converting and verifying", total=len(pairs)) as step:
        for recipe, fmt in pairs:
            exporter = get_exporter(fmt, recipe.name)
            target = targets[recipe.name, fmt]
            name = os.path.basename(target)
            release_memory()
            step.advance(0, detail=f"{fmt} {recipe.name}: converting"
                         + (f" (calibrating on {len(ev.calib)} images)" if recipe.calibrated else ""))
            start = time.perf_counter()
            float_layers: list[str] = []
            with quiet(), interrupts.deferred():
                content = export(exporter, qat.model if recipe.qat else src.model, ctx)
            seconds = time.perf_counter() - start
            options = exporter.describe(ctx)
            step.advance(0, detail=f"{fmt} {recipe.name}: verifying against the float model")
            # A quantized copy of a random network, or of one that never learned, is not judged: its outputs are
            # near-ties that any rounding reorders, so neither accuracy nor agreement says anything about the recipe.
            budget = Budget(opts.max_drop, opts.min_agreement, judged=recipe.is_float or unjudged is None)
            try:
                check = verify_content(content, fmt, ev, reference, random_reference, budget)
                repair = REPAIRS.get(f"{fmt}:{recipe.name}", default=None)
                if opts.auto_fallback and repair and check.verification.passed is False:
                    mixed = repair.run(src.model, ev, reference, random_reference, budget, ctx=ctx,
                                       progress=progress)
                    content, check, float_layers = mixed.content, mixed.check, mixed.float_layers
                    notes += _repaired(name, mixed, options)
            except Unloadable as exc:  # not written: a file its own runtime cannot load (or a layer-by-layer one)
                refuse(refused, notes, step, target, recipe.name, exc, reference)
                continue
            kernels = exporter.inspect(content, float_layers) if exporter.inspect else None
            notes += _artifact_notes(name, options, check, reference, kernels)
            if os.path.relpath(target, out_dir) in listed:
                notes.append(f"replaced {name}, which an earlier conversion into this folder had made")
            # The artifact and the manifest that lists it, together: an interrupted conversion leaves a folder
            # that describes exactly what finished.
            with interrupts.deferred():
                write_atomic(target, content)
                if src.labels and not artifacts:  # with the first artifact and manifest: nothing half-written
                    write_atomic(os.path.join(out_dir, "labels.txt"), "\n".join(src.labels) + "\n")
                artifacts.append(Artifact(
                    path=target, format=fmt, recipe=recipe, sha256=hashlib.sha256(content).hexdigest(),
                    size_bytes=len(content), inputs=check.inputs, outputs=check.outputs,
                    verification=check.verification, convert_seconds=seconds, float_layers=float_layers,
                    options=options, kernels=kernels,
                    qat=qat.describe(check.eval_outputs, ev, opts.max_drop) if recipe.qat else None,
                ))
                manifest = merge(existing, build_manifest(src, ev.description, artifacts, out_dir, opts.seed, notes),
                                 out_dir)
                write_atomic(manifest_path, to_json(manifest))
            step.advance(detail=f"{name}: top-1 agreement {check.verification.top1_agreement:.1f}%"
                                + ("" if budget.judged else f" ({unjudged}: not judged)"), log=True)
    if refused and not artifacts:
        raise CheckFailed("; ".join(reason for _, reason in refused) + " (nothing was written)")
    return ConvertResult(out_dir=out_dir, manifest_path=manifest_path, source=src, data=ev.description,
                         artifacts=artifacts, notes=notes, manifest=manifest, refused=refused)


def _check_out_dir(out_dir: str, pairs: list[tuple[Recipe, str]], stem: str) -> tuple[dict | None, dict, set]:
    """OUT's existing manifest, the path of each (recipe, format) artifact in it, and the paths its manifest lists;
    InputError where OUT cannot be made or an artifact's path holds a file edgebb did not make there."""
    check_can_create_dir(out_dir)  # created by the first file written, so bad input leaves nothing
    existing = read_manifest(out_dir)
    targets = {(recipe.name, fmt): os.path.join(out_dir, f"{stem}_{recipe.name}{_suffix(fmt)}")
               for recipe, fmt in pairs}
    listed = {a.get("path") for a in (existing or {}).get("artifacts", []) if isinstance(a, dict)}
    for path in targets.values():
        if os.path.exists(path) and os.path.relpath(path, out_dir) not in listed:
            raise InputError(f"{path} exists and was not made by edgebb convert into this folder; convert into "
                             "another folder (nothing was changed)")
    return existing, targets, listed


def _labels_of(data: str | None, trained_on: set | None) -> list[str] | None:
    """The class names of the --data folder (None without one); InputError for a folder convert cannot use."""
    if data is None:
        return None
    from ..data import scan_folder

    if not os.path.isdir(data):
        raise InputError(f"data folder not found: {data}" if not os.path.exists(data)
                         else f"--data must be a folder of class subfolders: {data}")
    folder = scan_folder(data)
    if trained_on is None:
        folder.require_split("convert holds out part of each class for evaluation, so it")
    elif len(folder.classes) < 2:  # a trained model's folder is split by what it trained on; one class judged on 1
        raise InputError(f"{data} has {len(folder.classes)} class folder(s); convert measures top-1 on them, so it "
                         "needs at least 2 classes")
    return folder.classes


def _source_notes(src: Source, ev: EvalData, pairs: list[tuple[Recipe, str]]) -> list[str]:
    """What the source's kind tells the user, before the float reference is taken; a random network's BatchNorm
    statistics are re-estimated on the calibration images here."""
    notes = []
    if src.random_weights:
        if not all(r.is_float for r, _ in pairs):
            checked = ("what was checked is that the float artifacts compute what the Keras model computes"
                       if any(r.is_float for r, _ in pairs) else
                       "with no float recipe asked for, what was checked is only that each file runs")
            notes.append("random weights: accuracy and agreement figures of quantized artifacts mean nothing here "
                         "(a random network's outputs are near-ties that any rounding reorders), so they are shown but "
                         f"not judged; {checked}. Convert a trained model (edgebb train) to judge a recipe")
        from ..models.weights import reestimate_batchnorm

        if reestimate_batchnorm(src.model, ev.calib):
            src.config["batchnorm_statistics"] = f"re-estimated on {min(len(ev.calib), 64)} calibration images"
            notes.append("random weights: BatchNorm statistics were re-estimated on the calibration images so the "
                         "float model's outputs are not flat (a random network's activations vanish otherwise)")
    if src.qat:
        notes.append("the source is a quantization-aware model: the int8 model is compared with it (fake-quantized, "
                     "in Keras), so 'float acc' is that model's accuracy")
    if ev.eval_labels is None and ev.description["kind"] == "folder":
        notes.append("the data's classes are not the model's outputs: accuracy and the --max-drop budget are not "
                     "checked; top-1 agreement with the float model is reported")
    return notes


def _unjudged(src: Source, ev: EvalData, reference: np.ndarray, opts: ConvertOptions, notes: list[str]) -> str | None:
    """Why the quantized artifacts are not judged (random weights, a float model at chance), with a note; None
    when they are."""
    unjudged = "random weights" if src.random_weights else None
    # the sweep's rule for a cell (edgebb.selection.cells.chance_problem), at any number of images: with 24 images
    # an int8 cell had been "at chance" in the sweep and `passed: true` in its manifest (bench --best took it)
    if unjudged is None and ev.eval_labels is not None and len(ev.eval_labels) and len(src.labels) >= 2:
        accuracy = float(np.mean(top1(reference) == ev.eval_labels))
        if indistinguishable_from_chance(accuracy, len(ev.eval_labels), len(src.labels)):
            unjudged = "float model at chance"
            notes.append(f"the float model's top-1 is {100 * accuracy:.1f}% on {len(ev.eval_labels)} held-out images, "
                         f"which cannot be told from guessing ({100 / len(src.labels):.0f}% for {len(src.labels)} "
                         "classes): its outputs are near-ties that any rounding reorders, so quantized artifacts are "
                         "shown but not judged. Train it further (edgebb train), or check on a --data folder with more "
                         "images, and convert again")
    if opts.auto_fallback and unjudged:
        notes.append(f"--auto-fallback did nothing: with {unjudged} the quantized artifacts are not judged, so none "
                     "can break the budget")
    return unjudged


def _repaired(name: str, mixed, options: dict) -> list[str]:
    """Takes --auto-fallback's options into the artifact's `options`; the notes on what it changed."""
    notes = []
    options.pop("zero_ranges_widened", None)  # the plain export's; the repaired file says its own
    if mixed.options.get("io_dtype", options.get("io_dtype")) != options.get("io_dtype"):
        notes.append(f"{name}: its input and output are {mixed.options['io_dtype']}, not {options.get('io_dtype')} "
                     "as --io-dtype asked: --auto-fallback's layer-by-layer file keeps float tensors at its edges; "
                     "feed it float input")
    options.update(mixed.options)
    if len(mixed.float_layers) * 2 > mixed.candidates:
        notes.append(f"{name}: --auto-fallback kept {len(mixed.float_layers)} of {mixed.candidates} quantized layers "
                     "in float to hold the budget, so most of it runs in float and int8 buys little size or speed; "
                     "try --recipe int8-qat")
    return notes


def _artifact_notes(name: str, options: dict, check, reference: np.ndarray, kernels: dict | None) -> list[str]:
    """What the user should know of one artifact beyond its figures."""
    notes = []
    if options.get("zero_ranges_widened"):
        notes.append(f"{name}: {len(options['zero_ranges_widened'])} tensor(s) were 0 on every calibration image "
                     "(units that never fire); they were given the model's typical int8 range, as a range of 0 makes "
                     "a file XNNPACK cannot prepare (listed under the artifact's options in the manifest)")
    if not np.any(check.eval_outputs) and np.any(reference):
        notes.append(f"{name}: every output is 0 on every evaluation image, where the float model's reach "
                     f"{float(np.abs(reference).max()):.2g} (values below its quantized output's step round to 0, as "
                     "a near-uniform softmax over many classes does): its top-1 is a tie and its cosine similarity 0")
    if kernels and kernels["float_compute"]:
        notes.append(f"{name}: {len(kernels['float_compute'])} Conv/MatMul/Gemm node(s) stay float in "
                     f"{kernels['runtime']} (listed with why under 'kernels' in the manifest)")
    return notes


def _check_fallback(pairs: list[tuple[Recipe, str]]) -> None:
    """--auto-fallback with no artifact it can repair is an input error, not a flag silently ignored."""
    if not any(f"{fmt}:{recipe.name}" in REPAIRS for recipe, fmt in pairs):
        known = " and ".join(f"{recipe} {fmt}" for fmt, recipe in (key.split(":") for key in sorted(REPAIRS)))
        made = ", ".join(f"{recipe.name} {fmt}" for recipe, fmt in pairs)
        raise InputError(f"--auto-fallback repairs {known} artifacts; this conversion makes {made}")


def _resolution_note(ev: EvalData, opts: ConvertOptions, moot: bool) -> list[str]:
    """A note when one held-out image is worth more top-1 points than --max-drop allows: any quantized artifact that
    changes one answer fails (5 of 8 int8 cells of a 45-image sweep did, at 2.22 points each, with no word why)."""
    n = 0 if ev.eval_labels is None else len(ev.eval_labels)
    if moot or not n or 100 / n <= opts.max_drop:
        return []
    return [f"one of the {n} held-out images is {100 / n:.2f} points of top-1, more than --max-drop {opts.max_drop:g}: "
            f"a quantized artifact that changes one answer fails the budget; judge on more images (--data) or give "
            f"--max-drop {100 / n:.2f} or more"]


def _data_notes(description: dict, data: str | None) -> list[str]:
    """What the data side of a conversion should tell the user."""
    notes = [description["note"]] if description.get("note") else []
    skipped, unreadable = description.get("skipped_non_images", 0), description.get("unreadable_images", 0)
    if skipped or unreadable:
        of = f" (of the {description['images_read']} files it opened)" if "images_read" in description else ""
        what = [f"{n} {kind}" for n, kind in ((skipped, "non-image file(s)"), (unreadable, "unreadable image(s)")) if n]
        notes.append(f"skipped {' and '.join(what)}{of if unreadable else ''} in {data}")
    if description.get("training_images_excluded"):
        notes.append(f"evaluated on the {description['evaluation_images']} images the model did not train on "
                     f"({description['training_images_excluded']} of its training images were in {data})")
    if description.get("checkpoint_images"):
        notes.append(f"{description['checkpoint_images']} of the {description['evaluation_images']} evaluation images "
                     "are the training's validation images, on which its best epoch was chosen: top-1 on them leans "
                     "optimistic (for an unbiased figure, evaluate on images training never used: --data a folder of "
                     "its own)")
    return notes


def release_memory() -> None:
    """Collect garbage and hand the C heap's free pages back to the OS (glibc's malloc_trim).

    TensorFlow's converters, tf2onnx and the runtimes free hundreds of MB between artifacts, but glibc keeps freed
    pages in its arenas, so each artifact's peak stacked on the last one's leftovers."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def export(exporter, model, ctx: ExportContext) -> bytes:
    """The artifact bytes `exporter` makes of `model` (a seam tests interrupt)."""
    return exporter.export(model, ctx)


def _suffix(fmt: str) -> str:
    from ..core.formats import FORMATS

    return FORMATS[fmt].suffix
