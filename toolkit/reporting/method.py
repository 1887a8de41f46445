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


def method_lines(data) -> list[str]:
    """What was measured and how, as bullet points."""
    spec = data.spec or {}
    options = spec.get("options") or {}
    lines = []
    if data.kind == "sweep":
        runs = options.get("runs")
        lines.append(
            "Latency: each (artifact, runtime, threads) measured by edgebb bench in its own worker process at batch "
            f"1; load, first run and {options.get('warmup', '?')} warm-up runs kept apart from the steady state "
            f"(at least {runs} runs and {options.get('min_seconds')} s, at most {options.get('max_seconds')} s); "
            "p50/p90/p99 are percentiles of the steady-state runs. Inputs are random pixels through the "
            "backbone's preprocessing.")
    else:
        lines.append("Latency: edgebb bench, each row in its own worker process; p50/p90/p99 of its steady-state "
                     "runs. This is a bench result: it holds no accuracy.")
    lines.append("Memory: peak resident set size (VmHWM) of the worker process that loaded and ran the model.")
    data_info = spec.get("data")
    if data.kind == "sweep" and data_info:
        lines.append(f"Accuracy: top-1 of the artifact after its recipe, run by its own runtime (LiteRT for .tflite, "
                     f"ONNX Runtime for .onnx) on the held-out part of {data_info.get('path')} "
                     f"({data_info.get('images')} images in {len(data_info.get('classes') or [])} classes; "
                     "images the model never trained on" + ("; they are also its validation split, on which the "
                                                             "best epoch was kept, so top-1 leans optimistic"
                                                             if options.get("epochs") else "")
                     + "); agreement is top-1 agreement with the float Keras model on the same images.")
        epochs = options.get("epochs")
        started: dict[str, list[str]] = {}
        for c in {(c["backbone"], c.get("width"), c.get("size")): c for c in data.cells}.values():
            width = "" if c.get("width") is None else f" {c['width']:g}"
            started.setdefault(str(c.get("weights") or "unknown"), []).append(f"{c['backbone']}{width}")
        origin = "; ".join(f"from {'random weights' if w == 'random' else w + ' weights'}: {', '.join(names)}"
                           for w, names in started.items())
        lr = (f"learning rate {options['lr']:g}" if options.get("lr") is not None
              else "each backbone's default learning rate (edgebb train's)")
        lines.append(f"Training: {epochs} epoch(s) per backbone configuration (batch {options.get('batch_size')}, "
                     f"{lr}, augmentation "
                     f"{', '.join(options.get('augment') or []) or 'none'}, seed {options.get('seed')}), from "
                     "ImageNet weights where the family has them and they can be fetched, else from random "
                     f"weights; {origin}.")
    elif data.kind == "sweep":
        lines.append("Accuracy: no data was given, so accuracy is the published ImageNet top-1 of the float model "
                     "at the input size it was published for, labelled with its source; other configurations (and "
                     "every int8 cell) have none. Nothing is estimated.")
    lines.append("Pareto: per target, a cell is optimal when no other cell is at least as accurate and at least "
                 "as fast (or as light) and better in one; MACs are counted per image, FLOPs are 2 x MACs.")
    versions = spec.get("versions") or {}
    if versions:
        lines.append("Tools: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return lines
