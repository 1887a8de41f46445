"""The best deployment of each model: the fastest (runtime, recipe, threads) whose accuracy holds.

`edgebb bench MODEL --best` measures every deployment a user could choose on this machine (each CPU runtime that
loads an artifact and is installed: LiteRT, ONNX Runtime, OpenVINO; fp32 and int8; the --threads given) and
`choose` names, per model and input size, the fastest row by p50 among the eligible ones, with every other row's
p50 as a ratio to it.

Eligible: the row ran, and its artifact's verification (the conversion's, against the float model on held-out
images) holds: a float artifact unless it failed that check; a quantized one when it passed it (one that was not
judged, random weights or a float model at chance, is listed with its figures and why, never chosen) and, where
labelled data measured an accuracy drop, that drop is within `max_drop` points. An artifact without a verification
(a bare file without its manifest) is measured and listed but not chosen: nothing says it computes the model.
`candidate` is that rule; `edgebb report` and `edgebb recommend` apply it too (edgebb.selection.pareto.excluded).
"""

from __future__ import annotations

from .rows import BenchRow


def candidate(recipe: str | None, verification: dict | None, max_drop: float | None = None) -> tuple[bool, str]:
    """Whether an artifact of `recipe` may be chosen, by its conversion's `verification` (a manifest's, as the
    runtime that ran it ran it: edgebb.conversion.verify.as_run_by), and what was checked or why not. The one rule
    of `bench --best`, `report` and `recommend`: an artifact that failed its check is no candidate; a float one is;
    a quantized one only when its check passed (not when it was not judged: random weights, or a float model at
    chance, whose outputs are near-ties any rounding reorders; nor without a verification at all) and, with
    `max_drop`, lost at most that many points where labelled data measured a drop."""
    from ..conversion.recipes import RECIPES

    spec = RECIPES.get(recipe, default=None) if recipe else None
    is_float = spec is not None and spec.is_float
    if verification is None:
        return (True, "float") if is_float else (False, "no verification (an artifact without its manifest)")
    agree, drop = verification.get("top1_agreement"), verification.get("drop")
    where = f" on {verification['runtime']}" if verification.get("runtime") else ""
    described = ", ".join(([f"drop {drop:.2f} points{where}"] if drop is not None else [])
                          + ([f"agreement {agree:.1f}%"] if agree is not None else []))
    passed = verification.get("passed")
    if passed is False or ("passed" not in verification and not is_float):
        because = verification.get("failed_because") or described or "over budget"
        return False, f"failed its conversion check{where} ({because})"
    if is_float:
        return True, described or "float"
    if passed is None:
        return False, f"not judged{where}: its outputs are near-ties" + (f" ({described})" if described else "")
    if max_drop is not None and drop is not None and drop > max_drop:
        return False, f"accuracy drop {drop:.2f} points{where} > --max-drop {max_drop:g}"
    return True, described


def _quality(row: BenchRow, verification: dict | None, max_drop: float) -> tuple[bool, str]:
    """(eligible, what was checked / why not)."""
    from ..conversion.verify import as_run_by

    if verification is not None:
        verification = as_run_by(verification, row.runtime)  # another runtime's own figures where convert ran it
    return candidate(row.recipe, verification, max_drop)


def choose(results: list[BenchRow], verifications: dict, max_drop: float) -> list[dict]:
    """Per (model, input size): {"model", "input_size", "best": {...}, "deployments": [...]}, fastest first.

    `verifications` maps an artifact path to its verification dict (from the manifest)."""
    groups: dict[tuple, list[BenchRow]] = {}
    for row in results:
        if row.target == "cpu" and not row.baseline:
            groups.setdefault((row.model, row.input_size), []).append(row)
    out = []
    for (model, size), rows in groups.items():
        deployments = []
        for row in rows:
            eligible, why = _quality(row, verifications.get(row.path), max_drop) if row.ok else (False, row.status)
            deployments.append({"recipe": row.recipe, "runtime": row.runtime, "threads": row.threads,
                                "format": row.format, "artifact": row.artifact, "p50_ms": row.p50,
                                "peak_rss_mb": row.peak_rss_mb, "eligible": eligible, "quality": why})
        ok = [d for d in deployments if d["eligible"] and d["p50_ms"]]
        best = min(ok, key=lambda d: d["p50_ms"]) if ok else None
        for d in deployments:
            d["vs_best"] = d["p50_ms"] / best["p50_ms"] if best and d["p50_ms"] else None
        deployments.sort(key=lambda d: (not d["eligible"], d["p50_ms"] or float("inf")))
        out.append({"model": model, "input_size": size, "max_drop": max_drop, "best": best,
                    "deployments": deployments})
    return out


def best_lines(choices: list[dict]) -> list[str]:
    lines = []
    for c in choices:
        best = c["best"]
        head = f"best deployment of {c['model']} @{c['input_size']}: "
        if best is None:
            lines.append(head + "none: no deployment ran and kept accuracy")
            why = [f"{d['recipe']} {d['runtime']} x{d['threads']}: {d['quality']}" for d in c["deployments"]]
            if why:
                lines.append("  not eligible: " + "; ".join(why))
            continue
        lines.append(head + f"{best['recipe']} on {best['runtime']} x{best['threads']}, p50 {best['p50_ms']:.3g} ms "
                            f"({best['quality']})")
        others = [d for d in c["deployments"] if not _same(d, best)]  # read back from JSON, best is a copy
        slower = [f"{d['recipe']} {d['runtime']} x{d['threads']} {d['vs_best']:.2f}x" for d in others
                  if d["eligible"] and d["vs_best"]]
        if slower:
            lines.append("  others (p50 / best's): " + ", ".join(slower))
        rejected = [f"{d['recipe']} {d['runtime']} x{d['threads']}"
                    + (f" ({d['vs_best']:.2f}x)" if d["vs_best"] else "") + f": {d['quality']}"
                    for d in others if not d["eligible"]]
        if rejected:
            lines.append("  not eligible: " + "; ".join(rejected))
    return lines


def _same(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("recipe", "runtime", "threads", "format", "artifact"))
