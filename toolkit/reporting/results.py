"""The terminal form of convert's, bench's and the zoo's results: rows and columns for a table, and the lines
that go under it (environment, notes, warnings). The CLI renders them with edgebb.reporting.terminal."""

from __future__ import annotations

import os

ZOO_COLUMNS = [("name", "backbone"), ("width", "width"), ("params_m", "params (M)"), ("mmacs", "MMACs@224"),
               ("gflops", "GFLOPs = 2 x MACs"), ("top1", "top-1 %"), ("imagenet", "ImageNet weights")]
LAYER_COLUMNS = [("name", "layer"), ("type", "type"), ("shape", "output"), ("kb", "act. kB"), ("params", "params"),
                 ("mmacs", "MMACs")]
CONVERT_COLUMNS = [("artifact", "artifact"), ("size", "MB"), ("agree", "top-1 agree %"), ("acc", "acc %"),
                   ("ref", "float acc %"), ("err", "max abs err"), ("cos", "cosine"), ("status", "budget")]
BENCH_COLUMNS = [("model", "model"), ("recipe", "recipe"), ("px", "px"), ("runtime", "runtime"), ("threads", "thr"),
                 ("p50", "p50 ms"), ("p90", "p90 ms"), ("ips", "img/s"), ("rss", "peak MB"), ("size", "file MB"),
                 ("peak", "% peak"), ("speedup", "x vs R50"), ("mem", "mem vs R50"), ("status", "status")]


def baseline_short(baseline: str) -> str:
    """How bench's columns name its baseline: R50 for ResNet-50, else as given (mobilenet_v2@0.35)."""
    return "R50" if baseline == "resnet50" else baseline


def bench_columns(baseline: str) -> list[tuple[str, str]]:
    """BENCH_COLUMNS with the ratio columns named after the run's --baseline; none with --baseline none."""
    if baseline == "none":
        return [(key, title) for key, title in BENCH_COLUMNS if key not in ("speedup", "mem")]
    short = baseline_short(baseline)
    names = {"speedup": f"x vs {short}", "mem": f"mem vs {short}"}
    return [(key, names.get(key, title)) for key, title in BENCH_COLUMNS]


def ratio_columns(cells: list[dict]) -> list[tuple[str, str]]:
    """A bench report's ratio columns as bench's table names them (x vs R50, mem vs R50), none without a baseline
    row: the report had left out the figures bench is run for."""
    base = next((c for c in cells if c.get("baseline")), None)
    if base is None or not any(c.get("speedup") is not None for c in cells):
        return []
    short = baseline_short(base["backbone"] + ("" if base.get("width") in (None, 1.0) else f"@{base['width']:g}"))
    return [("speedup", f"x vs {short}"), ("mem_ratio", f"mem vs {short}")]


def baseline_line(report) -> str | None:
    """The legend of the baseline's rows and ratio columns (None without a baseline row); a row whose recipe the
    baseline is not made with (int8-qat, which needs a trained model) is compared with the baseline's recipe of the
    same arithmetic (edgebb.benchmark.comparisons.baseline_recipe), and the legend says so where such a row has a
    ratio."""
    from ..benchmark.comparisons import baseline_recipe

    base = next((r.model for r in report.results if r.baseline), None)
    if not base:
        return None
    name = "ResNet-50" if base == "resnet50" else base
    line = (f"* baseline; x vs {baseline_short(base)} = {name} p50 / this p50 at the same input size, recipe, runtime "
            "and threads")
    other = {r.recipe: baseline_recipe(r.recipe) for r in report.results
             if r.speedup_vs_baseline is not None and baseline_recipe(r.recipe) not in (None, r.recipe)}
    if other:
        line += " (" + "; ".join(f"an {mine} row: against {name}'s {theirs} row, the same arithmetic without "
                                 "quantization-aware training" for mine, theirs in other.items()) + ")"
    return line


PROFILE_COLUMNS = [("op", "op"), ("count", "nodes"), ("ms", "ms / inference"), ("share", "share")]


def zoo_rows(rows: list[dict]) -> list[dict]:
    return [{**row, "params_m": row["params_total"] / 1e6, "mmacs": row["macs"] / 1e6, "gflops": 2 * row["macs"] / 1e9,
             "imagenet": "yes" if row["imagenet_weights"] else "-"} for row in rows]


def layer_rows(profile) -> list[dict]:
    return [{"name": r.name, "type": r.type, "shape": r.output_shape, "kb": r.activation_bytes / 1e3,
             "params": r.params, "mmacs": r.macs / 1e6} for r in profile.layers]


def convert_rows(result) -> list[dict]:
    rows = []
    for a in result.artifacts:
        v = a.verification
        status = {True: "ok", False: f"OVER BUDGET: {v.failed_because}", None: "not judged"}[v.passed]
        rows.append({"artifact": os.path.basename(a.path), "size": a.size_bytes / 1e6, "agree": v.top1_agreement,
                     "acc": v.accuracy, "ref": v.reference_accuracy, "err": f"{v.max_abs_error:.2e}",
                     "cos": f"{v.cosine:.5f}",
                     "status": status + (f" ({len(a.float_layers)} float layers)" if a.float_layers else ""),
                     "_style": "red" if v.passed is False else None})
    return rows


def convert_lines(result) -> list[str]:
    data = result.data
    lines = ["", f"verified on {data['evaluation_images']} held-out images "
             f"({data['kind']}{': ' + data['path'] if data.get('path') else ''}) and {data['random_inputs']} random "
             "inputs"]
    judged = [a.verification for a in result.artifacts if a.verification.passed is not None]
    if judged:
        v = judged[0]
        checks = ([f"top-1 accuracy drop <= {v.max_drop:g} point(s)"] if v.drop is not None else []) + \
            ([f"top-1 agreement with the float model >= {v.min_agreement:g}%"] if v.min_agreement else [])
        lines.append(f"budget: {' and '.join(checks) or 'none'} ({len(judged)} of {len(result.artifacts)} artifacts "
                     "judged)")
    lines += [f"note: {n}" for n in result.notes]
    lines.append(f"manifest: {result.manifest_path}")
    return lines


UNJUDGED = ("not judged: the conversion's check was not judged (random weights, or a float model at chance: "
            "near-tied outputs any rounding reorders), so the artifact is measured but not a candidate")


def bench_rows(report) -> tuple[list[dict], list[str]]:
    """The table rows of a BenchReport and the footnotes its row errors became (so one long reason does not
    stretch every column)."""
    rows, footnotes = [], []
    numbers: dict[str, int] = {}  # a text's footnote: an artifact measured at two thread counts had two copies

    def note(text: str) -> int:
        if text not in numbers:
            footnotes.append(f"[{len(footnotes) + 1}] {text}")
            numbers[text] = len(footnotes)
        return numbers[text]

    for r in report.results:
        lat = r.latency_ms or {}
        status = r.status
        if r.status != "ok":
            status += f" [{note(f'{r.artifact or r.model} on {r.runtime} ({r.threads} thread(s)): {r.error}')}]"
        check = r.get("conversion_check") or {}
        if r.status == "ok" and check.get("passed") is False:  # measured, but not a candidate
            why = check.get("failed_because") or "over budget"
            text = f"{r.artifact}: failed its conversion check against the float model ({why}): not a candidate"
            status = f"ok, failed check [{note(text)}]"
        elif r.status == "ok" and "passed" in check and check["passed"] is None:
            status = f"ok, not judged [{note(UNJUDGED)}]"
        status += (" (emulated)" if r.emulated else "") + (" (software GPU)" if r.get("software") else "") \
            + (" (throttled)" if r.get("throttled") else "")
        rows.append({"model": r.model + (" *" if r.baseline else ""), "recipe": r.recipe, "px": r.input_size,
                     "runtime": r.runtime,
                     "threads": r.threads, "p50": lat.get("p50"), "p90": lat.get("p90"), "ips": r.throughput_ips,
                     "rss": r.peak_rss_mb, "size": r.size_mb, "speedup": r.speedup_vs_baseline,
                     "peak": None if r.get("peak_fraction") is None else 100 * r.get("peak_fraction"),
                     "mem": r.memory_ratio_vs_baseline, "status": status,
                     "_style": "yellow" if status.startswith("ok, failed check") else
                     {"failed": "red", "skipped": "dim"}.get(r.status)})
    return rows, footnotes


def peak_line(peak: dict) -> str:
    """The legend of the % peak column: the peaks it divides by, and whose GEMM set the fp32 one."""
    def figures(kind: str) -> str:
        by = peak.get(f"{kind}_from") or {}
        return ", ".join(f"{v:g} GMAC/s x{n}" + (f" ({by[n]})" if n in by else "")
                         for n, v in sorted(peak[f"{kind}_gmacs"].items(), key=lambda kv: int(kv[0])))

    kinds = [f"{kind} {figures(kind)}" for kind in ("fp32", "int8") if peak.get(f"{kind}_gmacs")]
    return ("% peak = achieved GMAC/s (MACs / p50) over this machine's measured GEMM peak at the same threads ("
            + "; ".join(kinds) + ")" + (f"; {peak['busy']}" if peak.get("busy") else ""))


def bench_lines(report, footnotes: list[str]) -> list[str]:
    """What goes under the bench table: the row footnotes, the machine, its state, the legend, notes, warnings."""
    env = report.env
    lines = footnotes + ["", f"{env.get('cpu_model')} ({env.get('cores')} cores; "
                             f"{' '.join(env.get('cpu_flags', []))}), Python {env.get('python')}"
                         + (f", {env['board']}" if env.get("board") else "")
                         + (f", EMULATED ({env.get('emulation')})" if env.get("emulated") else "")
                         + (f"; {env['remote']['destination']}" if env.get("remote") else "")]
    state = device_state_line(env)
    if state:
        lines.append(state)
    legend = baseline_line(report)
    if legend:
        lines.append(legend)
    if env.get("peak"):
        lines.append(peak_line(env["peak"]))
    lines += [sustained_line(r) for r in report.results if r.get("sustained")]
    outliers = outlier_line(report.results)
    if outliers:
        lines.append(outliers)
    lines += [line for r in report.results if r.get("parity") for line in parity_lines(r)]
    lines += [f"note: {n}" for n in report.notes]
    lines += [f"warning: {w}" for w in report.warnings]
    return lines


def outlier_line(results) -> str | None:
    """Why img/s (1000 / mean: the steady state's rate) is well below 1000 / p50 for some rows: a few runs much slower
    than the rest (an OS preempting the process), which pull the mean and p99 up and leave p50 and p90 where they are;
    None when no row's mean is 25% over its p50."""
    skewed = [(r, r.latency_ms["mean"] / r.p50) for r in results
              if r.ok and r.p50 and (r.latency_ms or {}).get("mean", 0) > 1.25 * r.p50]
    if not skewed:
        return None
    worst, ratio = max(skewed, key=lambda pair: pair[1])
    lat = worst.latency_ms
    where = f"{worst.artifact} on {worst.runtime} ({worst.threads} thread(s))"
    if lat.get("p90") and lat["p90"] > 1.25 * lat["p50"]:  # one run in ten or more: not a few, and p90 holds them
        return (f"img/s is 1000 / mean latency, the steady state's rate: for {len(skewed)} row(s) slow runs pulled "
                f"the mean above p50, and they were not rare (the worst: {where}, mean {ratio:.1f}x p50, p90 "
                f"{lat['p90']:.3g} ms against p50 {lat['p50']:.3g} ms: one run in ten or more); p50 is what the "
                "model takes undisturbed, p90 and img/s what this machine gave it: measure again with nothing "
                "else running")
    return (f"img/s is 1000 / mean latency, the steady state's rate: for {len(skewed)} row(s) a few runs far slower "
            f"than the rest pulled the mean above p50 (the worst: {where}, mean {ratio:.1f}x p50, max "
            f"{lat['max']:.3g} ms against p50 {lat['p50']:.3g} ms); p50 and p90 are what the model takes")


def parity_lines(row) -> list[str]:
    """A GPU row's parity with the CPU in a line, and where its top-1 agreement says little (the CPU's top two
    outputs are near-ties the error can reorder, as a random network's are), a second line saying so."""
    from ..core.formats import FORMATS

    p = row.get("parity")
    cpu = FORMATS[row.format].default_runtime if row.format in FORMATS else "the CPU"
    n, agree, error = p.get("samples"), p.get("top1_agreement"), p.get("max_abs_error")
    line = (f"parity: {row.artifact or row.model} on {row.runtime} x{row.threads} against {cpu} on the CPU"
            + (f", {n} inputs" if n else "") + f": max abs error {error:.2g}, top-1 agreement {agree:.1f}%")
    if p.get("precision") == "float16":
        line += " (LiteRT let the GPU compute in float16, its default, as on a phone; --gpu-fp32 for float32)"
    elif p.get("precision") == "float32":
        line += " (the GPU computed in float32: --gpu-fp32)"
    near, random = p.get("near_ties") or 0, p.get("random_weights")
    if not near and not (random and agree < 100):
        return [line]
    ties = f"{near} of {n} inputs' top two CPU outputs are within twice that error of each other" if near else ""
    why = (f"random weights: their outputs are near-ties among the top classes{f' ({ties})' if ties else ''}"
           if random else f"{ties}: near-ties it can reorder")
    return [line, f"  {why}, so the top-1 agreement says little about the GPU; the max abs error does"]


def sustained_line(row) -> str:
    """A --sustained row in one line: p50 per window, drift, and the device's temperature, clock and throttling."""
    s = row.get("sustained")
    windows = s["windows"]
    parts = [f"sustained {s['seconds']:g} s, {row.artifact or row.model} on {row.runtime} x{row.threads}: p50 by "
             f"window " + " ".join(f"{w['p50_ms']:.3g}" for w in windows) + " ms"]
    if s.get("drift"):
        parts.append(f"drift {s['drift']:.2f}x (last window's p50 / first's)")
    temps = [w["temperature_c"] for w in windows if w["temperature_c"] is not None]
    if temps:
        parts.append(f"{s['start']['temperature_c'] or temps[0]:.1f} -> {temps[-1]:.1f} C (max {max(temps):.1f})")
    clocks = [w["cpu_freq_mhz"] for w in windows if w["cpu_freq_mhz"]]
    if clocks:
        parts.append(f"clock {min(clocks):.0f}-{max(clocks):.0f} MHz")
    if s.get("throttled_windows"):
        parts.append(f"THROTTLED ({', '.join(row.get('throttled') or [])}) in window(s) "
                     + ",".join(map(str, s["throttled_windows"])))
    elif not temps and not clocks:
        parts.append("this machine exposes no temperature, clock or throttling flags")
    return "; ".join(parts)


def device_state_line(env: dict) -> str | None:
    """Governor, clock, temperature and throttling before -> after the run, where the machine reports them."""
    parts = []
    if env.get("cpu_governor"):
        parts.append(f"governor {env['cpu_governor']}")
    if env.get("cpu_freq_mhz"):
        parts.append(f"{env['cpu_freq_mhz']:.0f} -> {env.get('cpu_freq_after_mhz') or 0:.0f} MHz"
                     + (f" (max {env['cpu_freq_max_mhz']:.0f})" if env.get("cpu_freq_max_mhz") else ""))
    if env.get("temperature_before_c") is not None:
        after = env.get("temperature_after_c")
        parts.append(f"{env['temperature_before_c']:.1f} -> {'?' if after is None else f'{after:.1f}'} C")
    if env.get("throttled_before") is not None:
        parts.append(f"throttled {env['throttled_before']} -> {env.get('throttled_after')}")
    return ("device: " + ", ".join(parts)) if parts else None
