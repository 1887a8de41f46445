"""Reading a benchmark's rows: where int8 is slower than fp32 and the likely cause, which rows ran on a software
adapter, and why figures are not comparable to a clean run (a throttling device, a busy machine, rows that varied);
the sweep's warnings about its cells use the same readings and words (edgebb.selection.cells)."""

from __future__ import annotations

from .rows import BenchRow, noise

BUSY = 0.25  # other work using more than this share of the machine's CPU time: the figures are not an idle machine's
NOISY = 0.15  # a row whose runs typically vary more than this share of its p50 (rows.spread_of) is flagged

# int8 must be slower than fp32 by more than this, and by more than twice either row's run-to-run spread,
# before a cause is named: on a busy machine the same symptom is noise.
MIN_DIFFERENCE = 0.05


def slower_beyond_noise(ratio: float, noise_a: float | None, noise_b: float | None) -> bool:
    """Whether a p50 `ratio` of two measurements (over 1: the first is slower) is more than their noise: more than
    MIN_DIFFERENCE, and more than twice the larger run-to-run spread of the two (rows.noise)."""
    return ratio - 1.0 > max(MIN_DIFFERENCE, 2 * max(noise_a or 0.0, noise_b or 0.0))


def _rows(results) -> list[BenchRow]:
    return [r if isinstance(r, BenchRow) else BenchRow.from_dict(r) for r in results]


def diagnose(results, env: dict) -> list[str]:
    """Say where an int8 recipe (int8, int8-qat: the note names it) is slower than fp32 on the same model, runtime and
    threads by more than the run's noise (MIN_DIFFERENCE, or twice the larger run-to-run spread of the two rows,
    rows.noise), with the likely cause. Not where either row ran on a software GPU or under an emulator: their latencies
    are the emulation's, whose cost per operation is not the target's (the note on the software adapter, or the
    emulation's, says so)."""
    from ..conversion.recipes import RECIPES
    from .environment import int8_speed_hint

    rows = _rows(results)
    ok = {(r.model, r.runtime, r.threads, r.recipe): r for r in rows if r.ok}
    notes = []
    for (model, runtime, threads, recipe), r in ok.items():
        fp32 = ok.get((model, runtime, threads, "fp32"))
        known = RECIPES.get(recipe, default=None)
        if not fp32 or not known or known.activations != "int8" or known.weights != "int8":
            continue
        if any(x.get("software") or x.emulated for x in (r, fp32)):
            continue
        ratio = r.p50 / fp32.p50
        if slower_beyond_noise(ratio, noise(r), noise(fp32)):
            cause = int8_speed_hint(env)
            if _on_gpu(r):
                cause = ("the GPU delegate did not take the whole int8 model and fell back to CPU for part of it"
                         if r.get("fully_accelerated") is False else
                         "LiteRT's GPU accelerator computes int8 models in float (it dequantizes them), so int8 "
                         "saves size there, not time")
            notes.append(f"{model} {recipe} is {ratio:.2f}x slower than fp32 on {runtime} ({threads} thread(s)): "
                         f"{cause}")
    software: dict[tuple, list[str]] = {}  # one note per runtime and adapter, naming its rows
    for r in rows:
        if r.get("software"):
            software.setdefault((r.runtime, r.get("adapter")), []).append(r.artifact)
    for (runtime, adapter), artifacts in software.items():
        notes.append(f"{', '.join(dict.fromkeys(artifacts))} on {runtime} ran on a software adapter ({adapter}): "
                     "latency there is emulation, not GPU speed")
    return notes


def _on_gpu(row: BenchRow) -> bool:
    """Whether a row ran on a GPU: its target says so, or its runtime is registered as one (rows read back from
    other tools' JSON may lack the target)."""
    from ..runtimes import RUNTIMES

    runtime = RUNTIMES.get(row.runtime, default=None)
    return row.target.endswith("gpu") or (runtime is not None and runtime.target == "gpu")


def device_warnings(env: dict, results) -> list[str]:
    """Why the figures of a run are not comparable to a clean run on the same device: throttling during it (from
    the before/after readings of `vcgencmd get_throttled`), or sticky flags from earlier that hide a new throttle."""
    from .environment import THROTTLE_SINCE_BOOT, throttled_between

    out = []
    during = throttled_between(env.get("throttled_before"), env.get("throttled_after"))
    if during:
        spoiled = [f"{r.artifact} on {r.runtime} ({r.threads} thread(s))" for r in _rows(results)
                   if r.get("throttled")]
        out.append(f"the device throttled during this run ({', '.join(during)}; vcgencmd get_throttled "
                   f"{env.get('throttled_before')} -> {env.get('throttled_after')}): these figures are not comparable "
                   "to an unthrottled run; cool the board (heatsink, fan), use the official power supply and run again"
                   + (f"; rows affected: {'; '.join(spoiled)}" if spoiled else ""))
    try:
        sticky = int(env.get("throttled_before") or "0", 16) & sum(1 << bit for bit in THROTTLE_SINCE_BOOT)
    except ValueError:
        sticky = 0
    if sticky and not during:
        out.append(f"the device had throttled before this run (vcgencmd get_throttled {env['throttled_before']}; "
                   "the since-boot flags stay set until a reboot), so a new throttle during this run that is over "
                   "by its end would not show; reboot before benchmarking to start from 0x0")
    return out


def noise_warnings(env: dict, results: list[BenchRow]) -> list[str]:
    """Why figures may be noisier than the machine can measure: a busy machine, rows that varied a lot."""
    out = []
    busy = busy_share(env)
    if busy > BUSY:
        loads = [x[0] for x in (env.get("load_average_before"), env.get("load_average_after")) if x]
        out.append(f"this machine was busy: other work used {busy:.0%} of its CPU time around the run "
                   f"(1-minute load average {' -> '.join(f'{x:.1f}' for x in loads)} on {env.get('cores')} cores); "
                   "latencies are slower and noisier than on an idle machine: run again with nothing else running")
    noisy = [(f"{r.artifact} on {r.runtime} ({r.threads} thread(s))", noise(r)) for r in results
             if r.ok and (noise(r) or 0) > NOISY]
    if noisy:
        out.append(varied(noisy, "row"))
    return out


def busy_share(env: dict) -> float:
    """The largest share of the machine's CPU time other work used around a measurement (its readings before and
    after); 0 where none was read."""
    return max((x for x in (env.get("cpu_busy_before"), env.get("cpu_busy_after")) if x is not None), default=0)


def few(named: list[tuple[str, float]], worst: int | None = None, lead: str = "the worst: ") -> str:
    """"NAME 42%; NAME 30%" for (name, share) pairs in their order; with `worst`, only the first that many, led by
    `lead` and followed by "; N more"."""
    shown = named if worst is None else named[:worst]
    more = f"; {len(named) - len(shown)} more" if len(shown) < len(named) else ""
    return (lead if more else "") + "; ".join(f"{name} {x:.0%}" for name, x in shown) + more


def varied(named: list[tuple[str, float]], what: str, worst: int | None = None) -> str:
    """"N row(s) varied by more than 15% from run to run (...): NAME 42%; ...; their comparisons are uncertain",
    for (name, spread) pairs already judged noisy, in their order; with `worst`, only the first that many named."""
    return (f"{len(named)} {what}(s) varied by more than {NOISY:.0%} from run to run (interquartile range / 1.349, "
            f"a share of p50): {few(named, worst)}; their comparisons are uncertain")
