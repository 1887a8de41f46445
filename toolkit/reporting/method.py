"""How a report's figures were measured, in words: the environment of each target (device fingerprint, runtime
versions, emulated or software-GPU labels) and the method (latency, memory, accuracy, the data set and its size)."""

from __future__ import annotations


def environment_rows(data) -> list[dict]:
    """One row per target from the environment its measurements recorded."""
    rows = []
    for target in dict.fromkeys(c["target"] for c in data.cells):
        env = data.environments.get(target) or {}
        cells = [c for c in data.cells if c["target"] == target]
        adapters = sorted({str((c.get("bench") or {}).get("adapter")) for c in cells
                           if (c.get("bench") or {}).get("adapter")})
        labels = []
        if any(c.get("software") for c in cells):
            labels.append("software GPU (figures of a CPU emulating a GPU)")
        if env.get("emulated") or any(c.get("emulated") for c in cells):
            labels.append(f"emulated ({env.get('emulation') or 'emulator'})")
        remote = (env.get("remote") or {}).get("destination")
        rows.append({
            "target": target,
            "machine": (f"{remote} over SSH; " if remote else "") + (env.get("board") or env.get("machine") or "-"),
            "cpu": f"{env.get('cpu_model') or '-'}, {env.get('cores') or '?'} cores; flags: "
                   f"{' '.join(env.get('cpu_flags') or []) or 'none recorded'}",
            "os": f"{env.get('os') or '-'}; Python {env.get('python') or '-'}",
            "runtimes": ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items()) or "-",
            "state": "; ".join(labels + [f"adapter {a}" for a in adapters]) or "native"})
    return rows


def _options(data, c: dict) -> dict:
    """The sweep options cell `c` was made with: its own provenance's (a store holds cells of several runs, a
    sweep's JSON no run at all), else the newest run's."""
    return ((c.get("provenance") or {}).get("options") or ((data.spec or {}).get("options")) or {})


def _by_options(data, cells: list[dict], text) -> str:
    """`text(options)` of the cells' options; where runs gave them different settings, each with its cell count."""
    groups: dict[str, int] = {}
    for c in cells:
        said = text(_options(data, c))
        groups[said] = groups.get(said, 0) + 1
    if len(groups) == 1:
        return next(iter(groups))
    return "; ".join(f"{said} for {n} cell(s)" for said, n in groups.items())


def method_lines(data) -> list[str]:
    """What was measured and how, as bullet points (from each cell's own provenance where it has one)."""
    spec = data.spec or {}
    lines = []
    measured = [c for c in data.cells if c.get("p50_ms") is not None] or data.cells
    if data.kind == "sweep":
        bench = _by_options(data, measured, lambda o: (
            f"{o.get('warmup', '?')} warm-up runs kept apart from the steady state (at least {o.get('runs', '?')} "
            f"runs and {o.get('min_seconds', '?')} s, at most {o.get('max_seconds', '?')} s)"))
        lines.append(
            "Latency: each (artifact, runtime, threads) measured by edgebb bench in its own worker process at batch "
            f"1; load, first run and {bench}; p50/p90/p99 are percentiles of the steady-state runs. Inputs are "
            "random pixels through the backbone's preprocessing.")
    else:
        lines.append("Latency: edgebb bench, each row in its own worker process; p50/p90/p99 of its steady-state "
                     "runs. This is a bench result: it holds no accuracy.")
    lines.append("Memory: peak resident set size (VmHWM) of the worker process that loaded and ran the model.")
    data_info = next((d for d in ((c.get("provenance") or {}).get("data") for c in data.cells) if d),
                     None) or spec.get("data")
    if data.kind == "sweep" and data_info:
        trained = any(_options(data, c).get("epochs") for c in data.cells)
        held = sorted({(c.get("verification") or {}).get("samples") for c in data.cells} - {None})
        held_text = f"{'/'.join(map(str, held))} held-out images of its " if held else ""  # the report had not said
        lines.append(f"Accuracy: top-1 of the artifact after its recipe, run by its own runtime (LiteRT for .tflite, "
                     f"ONNX Runtime for .onnx) on the held-out part of {data_info.get('path')} "
                     f"({held_text}{data_info.get('images')} image files in {len(data_info.get('classes') or [])} "
                     "classes; "
                     "images the model never trained on" + ("; they are also its validation split, on which the "
                                                             "best epoch was kept, so top-1 leans optimistic"
                                                             if trained else "")
                     + "); agreement is top-1 agreement with the float Keras model on the same images.")
        started: dict[str, list[str]] = {}
        for c in {(c["backbone"], c.get("width"), c.get("size")): c for c in data.cells}.values():
            width = "" if c.get("width") is None else f" {c['width']:g}"
            name = f"{c['backbone']}{width} @{c.get('size')}"
            started.setdefault(str(c.get("weights") or "unknown"), []).append(name)
        origin = "; ".join(f"from {'random weights' if w == 'random' else w + ' weights'}: {', '.join(names)}"
                           for w, names in started.items())

        def training(o: dict) -> str:
            lr = (f"learning rate {o['lr']:g}" if o.get("lr") is not None
                  else "each backbone's default learning rate (edgebb train's)")
            return (f"up to {o.get('epochs')} epoch(s) per backbone configuration (early stopping may end one "
                    f"sooner; batch {o.get('batch_size')}, {lr}, "
                    f"augmentation {', '.join(o.get('augment') or []) or 'none'}, seed {o.get('seed')})")

        lines.append(f"Training: {_by_options(data, data.cells, training)}, from ImageNet weights where the family "
                     f"has them and they can be fetched, else from random weights; {origin}.")
    elif data.kind == "sweep":
        lines.append("Accuracy: no data was given, so accuracy is the published ImageNet top-1 of the float model "
                     "at the input size it was published for, labelled with its source; other configurations (and "
                     "every int8 cell) have none. Nothing is estimated.")
    lines.append(("Pareto: per target, a cell is optimal when no other cell is at least as accurate and at least "
                  "as fast (or as light) and better in one" if any(c.get("accuracy") is not None for c in data.cells)
                  else "Pareto: per target, a cell is optimal when no other cell is at least as fast and at least as "
                  "light and better in one (this result holds no accuracy)")
                 + "; MACs are counted per image, FLOPs are 2 x MACs.")
    versions = spec.get("versions") or next(
        (v for v in ((c.get("provenance") or {}).get("versions") for c in reversed(data.cells)) if v), {})
    if versions:
        lines.append("Tools: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return lines
