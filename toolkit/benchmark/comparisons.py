"""What a bench row is compared with: the baseline backbone (ResNet-50) measured in the same run, and, for a GPU row,
the CPU's outputs on the same inputs (parity).

A ratio to the baseline means something only where the row's latency is the target's: rows on a software GPU (a
CPU rasterizer standing in for a GPU) or under an emulator (qemu) get none, so the baseline is not converted or
measured for the runtimes whose rows are known, before measuring, to be such rows (`unratioed_runtimes`).
"""

from __future__ import annotations

from ..conversion.recipes import RECIPES
from ..core.formats import FORMATS
from ..core.progress import Progress, as_progress
from .rows import BenchRow, parity_of
from .targets import Target, convert_backbone


def baseline_recipe(recipe: str) -> str | None:
    """The recipe a baseline is converted with to compare with `recipe`: the same one, or for a recipe that needs
    a trained model (int8-qat) the post-training recipe of the same arithmetic (int8); None for an unknown one."""
    known = RECIPES.get(recipe, default=None)
    if known is None:
        return None
    if not known.qat:
        return recipe
    return next((r.name for r in RECIPES.values() if not r.qat and (r.weights, r.activations) ==
                 (known.weights, known.activations)), None)


def unratioed_runtimes(runtimes: list[str], env: dict) -> dict[str, str]:
    """The runtimes of a run whose rows will get no ratio to the baseline, each with why (one line): all of them on
    an emulated machine, and a GPU runtime whose only device here is a software one (a runtime's
    `software_device`, known before loading anything). A runtime that cannot run here is not one of them: its
    rows say why it did not run."""
    from ..runtimes import RUNTIMES, available

    if env.get("emulated"):
        why = (f"this machine is emulated ({env.get('emulation')}), and a ratio measured under an emulator would say "
               "nothing about the target")
        return dict.fromkeys(runtimes, why)
    out = {}
    for name in runtimes:
        if RUNTIMES[name].target == "cpu":  # a CPU runtime computes on the CPU it names
            continue
        device = RUNTIMES[name].software_device() if available(name)[0] else None
        if device:
            out[name] = (f"it runs on a software GPU here ({device}), and a software GPU's ratio would say nothing "
                         "about a real one")
    return out


def plan_baselines(targets: list[Target], baseline: str, runtimes: list[str], env: dict,
                   progress: Progress | None) -> tuple[list[Target], list[str], dict[str, str]]:
    """`targets` plus the baselines the runtimes that can give a ratio need (add_baselines: in those runtimes'
    formats that a target is measured in, only), the notes, and the runtimes the baseline is not measured on, with
    why. Why is said at once, before converting or measuring anything for the baseline, and kept among the
    notes."""
    from ..runtimes import RUNTIMES, available

    skipped = unratioed_runtimes(runtimes, env)
    notes = []
    if skipped and any(t.model != baseline for t in targets):
        if env.get("emulated"):  # one reason for every runtime
            notes.append(f"baseline {baseline} not measured: {next(iter(skipped.values()))}")
        else:
            notes += [f"baseline {baseline} not measured on {name}: {why}" for name, why in skipped.items()]
        say = as_progress(progress)
        for note in notes:
            say.say(note)
    ratioed = [name for name in runtimes if name not in skipped and available(name)[0]]  # (the others' rows say why)
    if ratioed:
        targets, more = add_baselines(targets, baseline, sorted({RUNTIMES[r].format for r in ratioed}), progress)
        notes += more
    return targets, notes, skipped


def add_baselines(targets: list[Target], baseline: str, formats: list[str],
                  progress: Progress | None) -> tuple[list[Target], list[str]]:
    """`targets` plus the baseline backbone at every (recipe, input size) some target is measured at, in the
    `formats` (those the run's runtimes load) that such a target has a file of: a ratio compares two models at the
    same input size and arithmetic on the same runtime, never ResNet-50 at 224 against a model at 96, and a
    baseline converted to a format no target is measured in would be measured for nothing. A size the baseline
    cannot be built at is a note, before anything of it is converted."""
    from ..core.errors import InputError
    from ..models import get_spec
    from .targets import baseline_at

    name, width = baseline_at(baseline)
    spec = get_spec(name)
    notes, have = [], {(t.recipe, t.input_size) for t in targets if t.model == baseline}
    wanted: dict[tuple[str, int], set[str]] = {}
    for t in targets:
        if t.model == baseline:
            continue
        recipe = baseline_recipe(t.recipe)
        if recipe is None or t.input_size is None:
            notes.append(f"{t.model} ({t.recipe}): no {baseline} row to compare with (its "
                         f"{'recipe' if recipe is None else 'input size'} is unknown without a manifest.json; bench "
                         "the manifest, or name the file MODEL_RECIPE.tflite)")
            continue
        measured = {f for f in formats if f in t.artifacts}
        if measured and (recipe, t.input_size) not in have:
            wanted.setdefault((recipe, t.input_size), set()).update(measured)
    for (recipe, size), measured in wanted.items():
        try:
            spec.check_size(size)
        except InputError as exc:
            notes.append(f"baseline {baseline} at {size}x{size} {recipe} not measured: {exc}")
            as_progress(progress).say(notes[-1])
            continue
        try:
            targets.append(convert_backbone(name, recipe, [f for f in formats if f in measured], size, progress,
                                            width=width))
        except ImportError as exc:
            notes.append(f"baseline {baseline} at {size}x{size} {recipe} not measured: converting it needs the "
                         f"TensorFlow side ({exc.name} is not installed); bench a {baseline} artifact alongside")
    return targets, notes


def compare_to_baseline(results: list[BenchRow], baseline: str, skipped: dict[str, str] | None = None) -> None:
    """speedup_vs_baseline and memory_ratio_vs_baseline against the baseline row of the same input size, runtime,
    threads and arithmetic (a QAT model's baseline is the PTQ recipe of the same arithmetic). Rows measured on a
    software GPU (CPU emulation of a GPU) or under an emulator (qemu) get none: a ratio would describe the
    emulator, whose cost per operation is not the target's (an int8 kernel and a float one are slowed unequally).
    Such a row, and a row on a runtime the baseline was not measured on (`skipped`: runtime -> why), says why in
    "no_ratio_because"."""
    if baseline == "none":
        return
    skipped = skipped or {}
    base = {(r.recipe, r.runtime, r.threads, r.input_size): r for r in results if r.baseline and r.ok}
    for r in results:
        if not r.ok:
            continue
        b = base.get((baseline_recipe(r.recipe), r.runtime, r.threads, r.input_size))
        why = _no_ratio(r, b) or (None if b else skipped.get(r.runtime))
        if why:
            r.extra["no_ratio_because"] = why
        elif b:
            r.speedup_vs_baseline = b.p50 / r.p50
            r.memory_ratio_vs_baseline = r.peak_rss_mb / b.peak_rss_mb


def _no_ratio(row: BenchRow, base: BenchRow | None) -> str | None:
    """Why `row` (against `base`, its baseline row if any) gets no ratio: a software GPU or an emulator ran one."""
    for r in (row, base):
        if r is not None and r.get("software"):
            return (f"{'it' if r is row else 'the baseline'} ran on a software GPU ({r.get('adapter')}): a ratio "
                    "would describe the emulation, not a GPU")
        if r is not None and r.emulated:
            return "measured under an emulator: a ratio would describe the emulator, not the target"
    return None


def cpu_parity(results: list[BenchRow]) -> list[str]:
    """GPU rows whose worker brought no parity of its own (edgebb.benchmark.worker compares with the CPU runtime
    itself): max abs error and top-1 agreement of their outputs against the artifact's row on its format's default
    (CPU) runtime, where the run has one. Returns a note for each GPU row left without parity, saying why."""
    cpu = {r.path: r for r in results if r.runtime == FORMATS[r.format].default_runtime and r.outputs is not None}
    notes = []
    for r in results:
        if r.target != "gpu" or r.outputs is None or r.get("parity"):
            continue
        if r.path in cpu:
            r.extra["parity"] = {**parity_of(cpu[r.path].outputs, r.outputs), "precision": None}  # not known here
        elif r.get("parity_error"):
            notes.append(f"{r.artifact} on {r.runtime} ({r.threads} thread(s)): no GPU-vs-CPU parity: "
                         f"{r.get('parity_error')}")
    return notes
