"""Float vs int8 PTQ (TFLite and ONNX) vs int8 QAT top-1 accuracy for every backbone, as JSON and Markdown.

    python benchmarks/quant_accuracy.py [--dataset digits|textures|shapes] [--only 'mobilenet*'] [--size 64]
                                        [--epochs 15] [--qat-epochs 3] [--jobs 2] [--merge]

Data: `digits` (real scans: scikit-learn's 1,797 handwritten digits, its fixed 70/30 split), `textures` (the
generated set made to be hard: 10 classes of fine textures under clutter and lighting; a second seed evaluates)
or `shapes` (easy: every backbone scores ~100%, so it cannot show what int8 costs; kept for comparison).
Per backbone (its smallest width, at --size, from random weights, each in its own process):
  1. `edgebb train NAME --qat`: float training on the training images, then quantization-aware fine-tuning;
  2. `edgebb convert model.keras --recipe fp32,int8 --format tflite,onnx` and `edgebb convert model_qat.h5
     --recipe int8-qat --format tflite,onnx` on the training and evaluation images together, as a user converts
     with all their images: convert calibrates on images the model trained on and verifies every artifact on all
     the others
     (the evaluation set and training's validation split: ~790 digits, so one image is 0.13 points).
Recorded: float accuracy (Keras), int8 PTQ accuracy and top-1 agreement with float of LiteRT and of ONNX Runtime,
the same int8 files' accuracy on other kernels (LiteRT's built-in kernels without XNNPACK, OpenVINO: how far the
runtime's arithmetic alone moves top-1, the yardstick for a difference between the formats),
QAT accuracy in Keras and of its int8 TFLite and ONNX models, the drops, and the float Conv/Gemm ONNX Runtime left
in the int8 ONNX model. Goals: int8 ONNX no more than 0.5 points below int8 TFLite and its agreement within 1 point
of TFLite's; int8 within 1 point of float; QAT int8 within 0.5 points of float, and QAT's Keras accuracy carried
over to its int8 models within 0.5 points, in both formats.
--jobs runs that many backbones at once (each child is a training; 2 on 2 cores finish the zoo in about half the
time of 1). --merge measures the named backbones into an existing report made with the same data and settings,
keeping its other rows (a whole-zoo run is hours on 2 cores; it can be done a few backbones at a time).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import backbones, child_row, count, output_file, say, write_report  # noqa: E402

CHILD = r"""
import json, os, sys, time
from edgebb.conversion import convert
from edgebb.training import train
name, width, size, epochs, qat_epochs, train_dir, data_dir, out = sys.argv[1:9]
width, size, epochs, qat_epochs = float(width), int(size), int(epochs), int(qat_epochs)
t0 = time.perf_counter()
model = os.path.join(out, "m.keras")
result = train(name, train_dir, model, width=width, size=size, epochs=epochs, weights=None, qat=True,
               qat_epochs=qat_epochs)
t1 = time.perf_counter()
ptq = convert(model, os.path.join(out, "ptq"), data_dir, recipes="fp32,int8", formats="tflite,onnx",
              calib_samples=200)
qat = convert(os.path.join(out, "m_qat.h5"), os.path.join(out, "qat"), data_dir, recipes="int8-qat",
              formats="tflite,onnx", calib_samples=200)
t2 = time.perf_counter()
by = {(a.recipe.name, a.format): a for a in ptq.artifacts}
fp32, int8, onnx = by["fp32", "tflite"], by["int8", "tflite"], by["int8", "onnx"]
q, q_onnx = qat.artifacts

# The same int8 TFLite file on LiteRT's built-in kernels (XNNPACK off), on the images convert verified it on
from edgebb.build.meta import read_meta
from edgebb.conversion.calibration import prepare_data
from edgebb.models.registry import Preprocessing
from edgebb.runtimes import load_artifact
with open(os.path.join(out, "ptq", "manifest.json")) as f:
    manifest = json.load(f)
ev = prepare_data(data_dir, Preprocessing.from_dict(manifest["preprocessing"]), labels=manifest["labels"],
                  calib_samples=200, seed=0, trained_on=set(read_meta(model)["training_images"]["fingerprints"]))
assert len(ev.eval_x) == int8.verification.samples, (len(ev.eval_x), int8.verification.samples)
with load_artifact(int8.path, runtime="litert", xnnpack=False) as session:
    builtin = 100.0 * float((session.run(ev.eval_x).reshape(len(ev.eval_x), -1).argmax(1) == ev.eval_labels).mean())
openvino = ((onnx.verification.other_runtimes or {}).get("openvino") or {}).get("accuracy")
print(json.dumps({
    "float": fp32.verification.reference_accuracy, "float_tflite": fp32.verification.accuracy,
    "int8_ptq": int8.verification.accuracy, "int8_onnx": onnx.verification.accuracy,
    "int8_ptq_builtin": builtin, "int8_onnx_openvino": openvino,
    "onnx_top1_agreement": onnx.verification.top1_agreement,
    "onnx_float_compute": len((onnx.kernels or {}).get("float_compute", [])),
    "qat_keras": q.qat["keras_accuracy"], "int8_qat": q.verification.accuracy,
    "int8_qat_onnx": q_onnx.verification.accuracy, "onnx_weights": onnx.options["weights"],
    "qat_onnx_float_compute": len((q_onnx.kernels or {}).get("float_compute", [])),
    "ptq_top1_agreement": int8.verification.top1_agreement, "qat_top1_agreement": q.verification.top1_agreement,
    "eval_images": int8.verification.samples, "epochs_run": result.epochs_run,
    "best_val_accuracy": result.best_val_accuracy, "train_s": round(t1 - t0, 1), "convert_s": round(t2 - t1, 1),
}))
"""

COLUMNS = [("backbone", "backbone"), ("width", "width"), ("float", "float"), ("int8_ptq", "int8 TFLite"),
           ("ptq_drop", "TFLite drop"), ("ptq_top1_agreement", "TFLite agree"),
           ("int8_ptq_builtin", "int8 TFLite, built-in kernels"), ("int8_onnx", "int8 ONNX"),
           ("onnx_drop", "ONNX drop"), ("onnx_top1_agreement", "ONNX agree"),
           ("int8_onnx_openvino", "int8 ONNX, OpenVINO"), ("onnx_float_compute", "ONNX float ops"),
           ("qat_keras", "QAT (Keras)"), ("int8_qat", "int8 QAT TFLite"), ("qat_drop", "QAT drop"),
           ("carry_over", "QAT Keras - TFLite"), ("int8_qat_onnx", "int8 QAT ONNX"), ("qat_onnx_drop", "QAT ONNX drop"),
           ("carry_over_onnx", "QAT Keras - ONNX")]


def markdown(rows: list[dict], summary: dict, env: dict) -> str:
    def cell(key, value):
        if key == "width":
            return f"{value:g}"
        if value is None:
            return "-"
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    lines = [f"# int8 accuracy: float vs PTQ (TFLite, ONNX) vs QAT ({env['input_size']} px, {env['dataset']}: "
             f"{env['classes']} classes, {env['eval_images']} held-out images)", "",
             "Top-1 accuracy in %; drops are float minus int8 (negative: int8 did better). Random initial weights,",
             f"{env['epochs']} float epochs and {env['qat_epochs']} QAT epochs; written by "
             "benchmarks/quant_accuracy.py.",
             "Converted with all the images: calibration on 200 the model trained on, every artifact verified on "
             "all the others (one image is " f"{100 / env['eval_images']:.2f} points)." if env["eval_images"] else "",
             f"ONNX int8 weights: {env.get('onnx_weights') or '-'}; ONNX Runtime ran on {env.get('cpu') or '-'}. "
             "int8 QAT ONNX: the QAT model's trained weights, activation ranges calibrated.",
             "", "| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        if r["status"] == "ok":
            flag = "" if r["learned"] else " (did not learn: chance level)"  # in its name's cell, not a number's
            lines.append("| " + " | ".join(cell(k, r.get(k)) + (flag if k == "backbone" else "") for k, _ in COLUMNS)
                         + " |")
        else:
            lines.append(f"| {r['backbone']} | {r['width']} | failed: {r['error']} |" + " |" * (len(COLUMNS) - 3))
    if not summary["ok"]:  # "True (0/0)" had said a goal was met with nothing to judge it on
        return "\n".join(lines + ["", "Goals: no backbone learned (float accuracy under twice chance), so none can be "
                                       "judged: train longer (--epochs) or at a larger --size",
                                   f"- total {summary['total_s']:.0f} s on {env['cpu_count']} cores"]) + "\n"
    lines += ["", f"Goals, over the {summary['ok']} backbones that learned:",
              f"- int8 ONNX no more than 0.5 points below int8 TFLite: {summary['onnx_within_0_5_of_tflite']}/"
                  f"{summary['ok']}; "
                  f"its agreement with float within 1 point of TFLite's: {summary['onnx_agreement_within_1']}/"
                  f"{summary['ok']}",
              f"- int8 within 1 point of float (best of PTQ and QAT) for every backbone: "
                  f"{summary['int8_within_1_point_all']} ({summary['int8_within_1_point']}/{summary['ok']}); "
                  f"in ONNX: {summary['onnx_within_1_point']}/{summary['ok']}",
              f"- QAT int8 no more than 0.5 points below float: TFLite {summary['qat_drop_within_0_5']}/"
                  f"{summary['ok']}, ONNX {summary['qat_onnx_drop_within_0_5']}/{summary['ok']}",
              f"- QAT at least as accurate as PTQ: {summary['qat_not_worse_than_ptq']}/{summary['ok']}",
              f"- QAT Keras accuracy carried over to int8 within 0.5 points: TFLite {summary['carry_over_within_0_5']}/"
              f"{summary['ok']}, ONNX {summary['carry_over_onnx_within_0_5']}/{summary['ok']}",
              f"- the same int8 file on other kernels (LiteRT's built-in kernels instead of XNNPACK; OpenVINO "
              f"instead of ONNX Runtime) moved top-1 by up to {_points(summary['kernel_spread_max'])} points "
              f"(median {_points(summary['kernel_spread_median'])}): differences between formats within that are "
              "arithmetic, not quantization",
              f"- did not learn (float accuracy under twice chance, so its row says nothing about int8): "
              f"{', '.join(summary['did_not_learn']) or 'none'}",
              f"- total {summary['total_s']:.0f} s on {env['cpu_count']} cores"]
    return "\n".join(lines) + "\n"


def _points(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def kernel_spread(row: dict) -> list[float]:
    """How far each int8 file's top-1 moved on the other kernels it was run on (absolute points)."""
    pairs = (("int8_ptq", "int8_ptq_builtin"), ("int8_onnx", "int8_onnx_openvino"))
    return [abs(row[a] - row[b]) for a, b in pairs if row.get(b) is not None]


SETTINGS = ("input_size", "dataset", "classes", "epochs", "qat_epochs", "weights", "evaluation")


def kept_rows(args, names: list[str]) -> tuple[list[dict], float]:
    """With --merge: the existing report's rows for backbones not measured now, and the seconds they took. An
    existing report made with other settings is refused (its rows would not be comparable)."""
    import json

    if not args.merge or not os.path.exists(args.out):
        return [], 0.0
    with open(args.out) as f:
        old = json.load(f)
    mine = settings(args)
    differ = [k for k in SETTINGS if old["env"].get(k) != mine[k]]
    if differ:
        sys.exit(f"--merge: {args.out} was made with other settings ("
                 + ", ".join(f"{k} {old['env'].get(k)} vs {mine[k]}" for k in differ) + ")")
    return [r for r in old["results"] if r["backbone"] not in names], float(old["summary"].get("total_s") or 0)


def settings(args) -> dict:
    return {"input_size": args.size, "dataset": args.dataset, "classes": args.classes, "epochs": args.epochs,
            "qat_epochs": args.qat_epochs, "weights": "random",
            "evaluation": "every image of train + eval that the model did not train on"}


def _cpu() -> str:
    from edgebb.core.cpu import cpu_info

    cpu = cpu_info()
    return f"{cpu['cpu_model']} ({', '.join(cpu['cpu_flags']) or 'no listed flags'})"


def report(args, rows: list[dict], started: float, kept: tuple[list[dict], float] = ([], 0.0)) -> dict:
    """Write the JSON and Markdown reports for the rows so far (after every backbone, so an interrupted run
    keeps what it measured), with the rows `kept` from an earlier report; returns the summary."""
    from edgebb import __version__
    from edgebb.core.files import write_atomic

    rows = sorted(kept[0] + rows, key=lambda r: r["backbone"])
    measured = [r for r in rows if r["status"] == "ok"]
    ok = [r for r in measured if r["learned"]]  # a model at chance level says nothing about what int8 costs
    within = [r for r in ok if min(r["ptq_drop"], r["qat_drop"]) <= 1.0]
    summary = {"ok": len(ok), "failed": len(rows) - len(measured),
               "did_not_learn": [r["backbone"] for r in measured if not r["learned"]],
               "total_s": round(kept[1] + time.perf_counter() - started, 1),
               "int8_within_1_point": len(within), "int8_within_1_point_all": bool(ok) and len(within) == len(ok),
               "onnx_within_1_point": sum(min(r["onnx_drop"], r["qat_onnx_drop"]) <= 1.0 for r in ok),
               "qat_drop_within_0_5": sum(r["qat_drop"] <= 0.5 for r in ok),
               "qat_onnx_drop_within_0_5": sum(r["qat_onnx_drop"] <= 0.5 for r in ok),
               "onnx_within_0_5_of_tflite": sum(r["int8_ptq"] - r["int8_onnx"] <= 0.5 for r in ok),
               "onnx_agreement_within_1": sum(r["ptq_top1_agreement"] - r["onnx_top1_agreement"] <= 1.0 for r in ok),
               "qat_not_worse_than_ptq": sum(r["int8_qat"] >= r["int8_ptq"] for r in ok),
               "carry_over_within_0_5": sum(abs(r["carry_over"]) <= 0.5 for r in ok),
               "carry_over_onnx_within_0_5": sum(abs(r["carry_over_onnx"]) <= 0.5 for r in ok),
               "max_abs_carry_over": max((abs(r["carry_over"]) for r in ok), default=None)}
    spreads = [d for r in ok for d in kernel_spread(r)]
    summary["kernel_spread_max"] = round(max(spreads), 4) if spreads else None
    summary["kernel_spread_median"] = round(statistics.median(spreads), 4) if spreads else None
    env = {"edgebb": __version__, "python": platform.python_version(), "machine": platform.machine(),
           "cpu_count": os.cpu_count(), **settings(args),
           "eval_images": measured[0]["eval_images"] if measured else None,
           "onnx_weights": next((r.get("onnx_weights") for r in measured if r.get("onnx_weights")), None),
           "cpu": _cpu()}
    write_report(args.out, env, summary, rows)
    md = os.path.splitext(args.out)[0] + ".md"
    write_atomic(md, markdown(rows, summary, env))
    say(f"wrote {md}")
    return summary


def both(train_dir: str, eval_dir: str, out: str) -> str:
    """A folder `out` holding every image of both folders (symlinks, per class), for convert to split by what the
    model trained on."""
    for folder, prefix in ((train_dir, "train"), (eval_dir, "eval")):
        for label in sorted(os.listdir(folder)):
            if os.path.isdir(os.path.join(folder, label)):
                os.makedirs(os.path.join(out, label), exist_ok=True)
                for name in os.listdir(os.path.join(folder, label)):
                    os.symlink(os.path.join(folder, label, name), os.path.join(out, label, f"{prefix}_{name}"))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=output_file, default="benchmarks/results/quant_accuracy.json",
                        help="JSON; Markdown beside it")
    parser.add_argument("--dataset", choices=("digits", "textures", "shapes"), default="digits")
    parser.add_argument("--only", default=None, help="shell patterns of backbone names, comma-separated")
    parser.add_argument("--size", type=count(1), default=64)
    parser.add_argument("--classes", type=count(2), default=None,
                        help="generated sets: classes [4 shapes, 10 textures]")
    parser.add_argument("--train-per-class", type=count(1), default=200, help="generated sets")
    parser.add_argument("--eval-per-class", type=count(1), default=100, help="generated sets")
    parser.add_argument("--epochs", type=count(1), default=15)
    parser.add_argument("--qat-epochs", type=count(0), default=3)
    parser.add_argument("--jobs", type=count(1), default=1, help="backbones measured at once")
    parser.add_argument("--merge", action="store_true", help="keep the rows of other backbones in --out")
    args = parser.parse_args(argv)

    from edgebb.data.synth import generate
    from edgebb.models import get_spec

    names = backbones(args.only)
    args.classes = 10 if args.dataset == "digits" else args.classes or (10 if args.dataset == "textures" else 4)
    kept = kept_rows(args, names)
    rows, started = [], time.perf_counter()
    if args.jobs < 1:
        sys.exit(f"--jobs must be at least 1; received {args.jobs}")
    with tempfile.TemporaryDirectory(prefix="edgebb-quant-") as tmp:
        train_dir, eval_dir = os.path.join(tmp, "train"), os.path.join(tmp, "eval")
        if args.dataset == "digits":
            from edgebb.data.scans import write_digits

            write_digits(train_dir, split="train", size=args.size)
            write_digits(eval_dir, split="eval", size=args.size)
        else:
            for folder, per_class, seed in ((train_dir, args.train_per_class, 0), (eval_dir, args.eval_per_class, 1)):
                generate(folder, kind=args.dataset, classes=args.classes, per_class=per_class, size=args.size,
                         seed=seed)
        data_dir = both(train_dir, eval_dir, os.path.join(tmp, "all"))

        def measure(name: str) -> dict:
            width = get_spec(name).widths[0]
            out = os.path.join(tmp, name)
            os.mkdir(out)
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", CHILD, name, str(width), str(args.size), str(args.epochs),
                                   str(args.qat_epochs), train_dir, data_dir, out], capture_output=True, text=True)
            row = {"backbone": name, "width": width, "process_s": round(time.perf_counter() - t0, 1)}
            row.update(child_row(proc))
            if row["status"] == "ok":
                row["ptq_drop"] = row["float"] - row["int8_ptq"]
                row["onnx_drop"] = row["float"] - row["int8_onnx"]
                row["qat_drop"] = row["float"] - row["int8_qat"]
                row["carry_over"] = row["qat_keras"] - row["int8_qat"]
                row["qat_onnx_drop"] = row["float"] - row["int8_qat_onnx"]
                row["carry_over_onnx"] = row["qat_keras"] - row["int8_qat_onnx"]
                row["learned"] = row["float"] >= 2 * 100 / args.classes  # else every comparison is about noise
            return row

        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            # ResNet-50 trains longest by far: started first, the other lanes do the rest meanwhile
            futures = {pool.submit(measure, name): name for name in sorted(names, key=lambda n: n != "resnet50")}
            for i, future in enumerate(concurrent.futures.as_completed(futures), start=1):
                row = future.result()
                name = row["backbone"]
                if row["status"] == "ok":
                    say(f"[{i}/{len(names)}] {name:20s} float {row['float']:6.2f}  TFLite {row['int8_ptq']:6.2f}  "
                        f"ONNX {row['int8_onnx']:6.2f}  QAT {row['qat_keras']:6.2f} -> TFLite {row['int8_qat']:6.2f} "
                        f"ONNX {row['int8_qat_onnx']:6.2f}  "
                        f"[{row['process_s']:.0f} s]")
                else:
                    say(f"[{i}/{len(names)}] {name:20s} failed: {row['error']}")
                rows.append(row)
                summary = report(args, rows, started, kept)  # after every backbone: an interrupted run keeps them
    return 0 if not summary["failed"] else 1  # (a row that did not learn is reported, not a failure)


if __name__ == "__main__":
    sys.exit(main())
