"""`make android-assets`: convert a backbone with `edgebb convert` and put the model into the Android app's assets.

Writes android_demo/app/src/main/assets/: every .tflite artifact of the conversion, manifest.json (preprocessing,
labels, input/output tensors with their quantization: what the app's core reads) and labels.txt when the model has
labels. Model files already there are replaced; the assets folder is git-ignored.

    python android_demo/tools/make_assets.py --backbone mobilenet_v2 --recipe fp32,int8
    python android_demo/tools/make_assets.py --backbone mobilenet_v2 --weights imagenet --data my_images/

Empty option values (as `make` passes unset variables) mean the default.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.path.normpath(os.path.join(HERE, os.pardir, "app", "src", "main", "assets"))
GENERATED = ("*.tflite", "manifest.json", "labels.txt")
DEFAULTS = {"backbone": "mobilenet_v2", "recipe": "fp32,int8", "width": "", "size": "224", "weights": "", "data": "",
            "io_dtype": "int8", "calib_samples": "64"}


def edgebb_command() -> list[str]:
    """`edgebb` from the same environment as this Python (the Makefile runs it from .venv)."""
    script = os.path.join(os.path.dirname(sys.executable), "edgebb")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "edgebb"]


def convert_args(opts: dict, out: str) -> list[str]:
    args = [*edgebb_command(), "convert", opts["backbone"], "-o", out, "--recipe", opts["recipe"], "--format", "tflite",
            "--io-dtype", opts["io_dtype"], "--calib-samples", opts["calib_samples"], "--size", opts["size"]]
    if opts["width"]:
        args += ["--width", opts["width"]]
    if opts["weights"]:
        args += ["--weights", opts["weights"]]
    if opts["data"]:
        args += ["--data", opts["data"]]
    return args


def install(out: str, assets: str) -> list[str]:
    """Replace the model files in `assets` with the conversion in `out`; returns the file names copied."""
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    tflite = [a["path"] for a in manifest["artifacts"] if a["format"] == "tflite"]
    if not tflite:
        raise SystemExit("android-assets: the conversion produced no .tflite artifact")
    os.makedirs(assets, exist_ok=True)
    for pattern in GENERATED:
        for old in glob.glob(os.path.join(assets, pattern)):
            os.remove(old)
    copied = []
    for name in [*tflite, "manifest.json", "labels.txt"]:
        source = os.path.join(out, name)
        if os.path.exists(source):
            shutil.copyfile(source, os.path.join(assets, os.path.basename(name)))
            copied.append(os.path.basename(name))
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for key in DEFAULTS:
        parser.add_argument("--" + key.replace("_", "-"), dest=key, default="")
    parser.add_argument("--assets", default=ASSETS, help="the app's assets folder")
    args = parser.parse_args(argv)
    opts = {k: getattr(args, k) or v for k, v in DEFAULTS.items()}
    with tempfile.TemporaryDirectory(prefix="edgebb-android-assets-") as tmp:
        out = os.path.join(tmp, "out")
        command = convert_args(opts, out)
        print("android-assets:", " ".join(command), flush=True)
        result = subprocess.run(command)
        if result.returncode != 0:
            return result.returncode
        copied = install(out, args.assets)
    sizes = ", ".join(f"{n} ({os.path.getsize(os.path.join(args.assets, n)) / 1e6:.2f} MB)" for n in copied)
    print(f"android-assets: {args.assets}: {sizes}")
    print("android-assets: build and install the app: cd android_demo && ./gradlew installDebug")
    return 0


if __name__ == "__main__":
    sys.exit(main())
