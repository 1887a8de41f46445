"""The best deployment of each model: the fastest (runtime, recipe, threads) whose accuracy holds.

`edgebb bench MODEL --best` measures every deployment a user could choose on this machine (each CPU runtime that
loads an artifact and is installed: LiteRT, ONNX Runtime, OpenVINO; fp32 and int8; the --threads given) and
`choose` names, per model and input size, the fastest row by p50 among the eligible ones, with every other row's
p50 as a ratio to it.

Eligible: the row ran, and its artifact's verification (the conversion's, against the float model on held-out
images) holds: a float artifact always; a quantized one when it passed its conversion check and, where labelled
data measured an accuracy drop, that drop is within `max_drop` points. An artifact without a verification (a bare
file without its manifest) is measured and listed but not chosen: nothing says it computes the model.
"""

from __future__ import annotations

from .rows import BenchRow


def _quality(row: BenchRow, verification: dict | None, max_drop: float) -> tuple[bool, str]:
    """(eligible, what was checked / why not)."""
    from ..conversion.recipes import RECIPES
    from ..conversion.verify import as_run_by

    recipe = RECIPES.get(row.recipe, default=None)
    if verification is None:
        if recipe is not None and recipe.is_float:
            return True, "float"
        return False, "no verification (an artifact without its manifest)"
    verification = as_run_by(verification, row.runtime)  # another runtime's own accuracy where convert ran it
    agree = verification.get("top1_agreement")
    drop = verification.get("drop")
    where = f" on {verification['runtime']}" if verification.get("runtime") else ""
    described = (f"drop {drop:.2f} points{where}" if drop is not None else "") + \
                (f"{', ' if drop is not None else ''}agreement {agree:.1f}%" if agree is not None else "")
    if recipe is not None and recipe.is_float:
        return True, described or "float"
    if "passed" in verification and verification["passed"] is None:  # random weights, or a model at chance
        return False, f"not judged{where}: its outputs are near-ties ({described})"
    if not verification.get("passed", False):
        return False, f"failed its conversion check{where} ({verification.get('failed_because') or described})"
    if drop is not None and drop > max_drop:
        return False, f"accuracy drop {drop:.2f} points{where} > --max-drop {max_drop:g}"
    return True, described


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
        others = [d for d in c["deployments"] if d is not best]
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
