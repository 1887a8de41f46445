"""Write the test vectors that tie the Android app's Kotlin core to edgebb's Python preprocessing.

Everything here is computed by edgebb's own functions (edgebb.data.preprocess_uint8 / preprocess, edgebb.runtimes
quantize / dequantize / load_artifact, edgebb.conversion.convert, edgebb.benchmark's row and statistics code,
edgebb.benchmark.environment), so the Kotlin tests in android_demo/core prove that the app computes what
`edgebb convert` calibrated and verified, and `edgebb bench` reports:

    images/          PNG inputs: shapes from edgebb.data.synth at odd sizes and integer-generated photo-like scenes
    pixels/          resized + centre-cropped + channel-ordered uint8 bytes (H, W, 3) per (image, preprocessing)
    floats/          the normalized float32 tensor (little-endian) per (image, preprocessing)
    models/<name>/   manifest.json and labels.txt of a tiny converted MobileNetV2, and per image the exact input
                     tensor bytes (.in: float32, int8 or uint8), the raw output bytes (.out) and the real scores
                     (.scores, float32)
    index.json       what each file is, the preprocessing configurations, top-k per model case, and the cases that
                     are checked by SHA-256 instead of by file (Pillow resizes of hash-noise images up to 1920x1080,
                     full 224x224 preprocessing of camera-sized frames), numpy latency statistics, the bench JSON
                     schema, cpuinfo parsing and int8 diagnosis notes

Run `make android-vectors` (or this script with --out) to regenerate; tests/test_android_vectors.py regenerates into
a temporary folder and requires the checked-in vectors to be identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from importlib import metadata

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, os.pardir, "core", "src", "test", "resources", "vectors")
SCHEMA = "edgebb.android-vectors/1"
TOP_K = 5

# Preprocessing configurations besides the tiny model's own: BGR with std 1 (ResNet-50's caffe mode), ImageNet
# mean/std without a crop margin, and an odd size whose resize target rounds (20 / 0.875 = 22.86 -> 23).
EXTRA_PREPROCESSING = {
    "caffe_bgr_24": {"size": 24, "mean": [103.939, 116.779, 123.68], "std": [1.0, 1.0, 1.0], "crop_fraction": 0.875,
                     "channel_order": "bgr", "resize": "bilinear"},
    "imagenet_28_nocrop": {"size": 28, "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375],
                           "crop_fraction": 1.0, "channel_order": "rgb", "resize": "bilinear"},
    "signed_20": {"size": 20, "mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5], "crop_fraction": 0.875,
                  "channel_order": "rgb", "resize": "bilinear"},
}
# The zoo's configurations at the camera size the app runs at, checked by digest (224x224 tensors are large files).
FULL_SIZE_PREPROCESSING = {
    "mobilenet_224": {"size": 224, "mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5], "crop_fraction": 0.875,
                      "channel_order": "rgb", "resize": "bilinear"},
    "resnet_224": {"size": 224, "mean": [103.939, 116.779, 123.68], "std": [1.0, 1.0, 1.0], "crop_fraction": 0.875,
                   "channel_order": "bgr", "resize": "bilinear"},
    "imagenet_224": {"size": 224, "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375],
                     "crop_fraction": 0.875, "channel_order": "rgb", "resize": "bilinear"},
}
MODEL_IMAGES = ("photo_200x131", "photo_97x150", "star_45")


# ------------------------------------------------------------------------------------------------- images


def hash_bytes(n: int, seed: int) -> np.ndarray:
    """n pseudo-random uint32 values, value i = lowbias32(i * 0x9E3779B1 + seed * 0x85EBCA77) mod 2**32.

    An integer-only hash, so the Kotlin tests regenerate the same images (Vectors.hashImage in core/src/test).
    """
    x = np.arange(n, dtype=np.uint32) * np.uint32(0x9E3779B1) + np.uint32((seed * 0x85EBCA77) & 0xFFFFFFFF)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    return x


def hash_image(width: int, height: int, seed: int, kind: str) -> np.ndarray:
    """A uint8 (height, width, 3) image: "noise" (every byte the hash's top 8 bits, the hardest case for rounding)
    or "texture" (wrapping diagonal ramps per channel plus 4 bits of hash noise)."""
    h = hash_bytes(width * height * 3, seed).reshape(height, width, 3)
    if kind == "noise":
        return (h >> np.uint32(24)).astype(np.uint8)
    if kind == "texture":
        y, x, c = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing="ij")
        return ((x * 5 + y * 3 + c * 85 + (h >> np.uint32(28)).astype(np.int64)) & 255).astype(np.uint8)
    raise ValueError(kind)


def photo_like(width: int, height: int, seed: int) -> np.ndarray:
    """A photo-like scene from integer arithmetic only: smooth gradients, a bright disc, a dark bar, sensor noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    r = x * 220 // max(width - 1, 1) + 20
    g = y * 200 // max(height - 1, 1) + 30
    b = (x + 2 * y) * 180 // max(width + 2 * height - 3, 1) + 40
    disc = (x - width * 3 // 5) ** 2 + (y - height * 2 // 5) ** 2 < (min(width, height) // 4) ** 2
    bar = (abs(x - width // 4) < max(width // 16, 1)) & (y > height // 3)
    rgb = np.stack([r, g, b], axis=-1)
    rgb[disc] = (rgb[disc] + np.array([230, 210, 120])) // 2 + 20
    rgb[bar] = rgb[bar] // 4
    noise = (hash_bytes(width * height * 3, seed).reshape(height, width, 3) >> np.uint32(27)).astype(np.int64) - 16
    return np.clip(rgb + noise // 2, 0, 255).astype(np.uint8)


def make_images() -> dict[str, np.ndarray]:
    """The images stored as PNG: odd sizes, portrait and landscape, down- and upscaled, and one not resized at all
    (37 is round(32 / 0.875), so a 37-pixel short side is only cropped for the model's preprocessing)."""
    from edgebb.data.synth import render

    return {
        "star_45": render("star", 45, np.random.default_rng([0, 45])),
        "ring_77": render("ring", 77, np.random.default_rng([0, 77])),
        "photo_200x131": photo_like(200, 131, 1),
        "photo_97x150": photo_like(97, 150, 2),
        "noise_23x19": hash_image(23, 19, 3, "noise"),
        "texture_50x37": hash_image(50, 37, 4, "texture"),
    }


# -------------------------------------------------------------------------------------------------- files


class Writer:
    """Writes files under `root`, returning the relative paths the index names them by."""

    def __init__(self, root: str):
        self.root = root

    def write(self, rel: str, data: bytes) -> str:
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return rel


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def le_f32(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


def preprocessing(spec: dict):
    from edgebb.models.registry import Preprocessing

    return Preprocessing(size=spec["size"], mean=tuple(spec["mean"]), std=tuple(spec["std"]),
                         crop_fraction=spec["crop_fraction"], channel_order=spec["channel_order"],
                         resize=spec["resize"])


def write_images(w: Writer, images: dict[str, np.ndarray], reuse: str | None) -> tuple[dict, dict]:
    """Save the PNGs (or read them from `reuse`, a previous vectors folder); returns (index entries, arrays)."""
    from PIL import Image

    from edgebb.data import load_image

    entries, arrays = {}, {}
    for name, array in images.items():
        rel = f"images/{name}.png"
        path = os.path.join(w.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if reuse:
            shutil.copyfile(os.path.join(reuse, rel), path)
        else:
            Image.fromarray(array).save(path)
        decoded = load_image(path)  # what the preprocessing sees: the PNG as edgebb decodes it
        arrays[name] = decoded
        entries[name] = {"file": rel, "width": int(decoded.shape[1]), "height": int(decoded.shape[0]),
                         "sha256_rgb": sha256(decoded.tobytes())}
    return entries, arrays


def write_preprocessing(w: Writer, arrays: dict, configs: dict) -> list[dict]:
    """pixels/ and floats/ for every (image, preprocessing)."""
    from edgebb.data import preprocess, preprocess_uint8

    cases = []
    for image_name, image in arrays.items():
        for pp_name, spec in configs.items():
            pp = preprocessing(spec)
            pixels = preprocess_uint8(image, pp)
            floats = preprocess(image, pp)
            stem = f"{image_name}__{pp_name}"
            cases.append({
                "image": image_name, "preprocessing": pp_name,
                "resized": list(_resized_shape(image.shape[0], image.shape[1], pp)),
                "pixels": w.write(f"pixels/{stem}.u8", pixels.tobytes()),
                "floats": w.write(f"floats/{stem}.f32", le_f32(floats)),
            })
    return cases


def _resized_shape(h: int, w: int, pp) -> tuple[int, int]:
    # the (height, width) preprocess_uint8 resizes to, by its own formula, so the Kotlin test can check it apart
    short = round(pp.size / pp.crop_fraction)
    return (short, round(w * short / h)) if h <= w else (round(h * short / w), short)


# ------------------------------------------------------------------------------------------------- models


def convert_models(work: str) -> dict[str, str]:
    """The tiny MobileNetV2 (width 0.35, 32x32, 6 shape classes) converted by `edgebb convert` twice: fp32 + int8
    with int8 input/output, and int8 with uint8 input/output. Returns {name: output folder}."""
    from edgebb.conversion import convert
    from edgebb.data.synth import generate

    data = os.path.join(work, "shapes")
    generate(data, classes=6, per_class=6, size=48, seed=0)
    out = {"int8io": os.path.join(work, "int8io"), "uint8io": os.path.join(work, "uint8io")}
    convert("mobilenet_v2", out["int8io"], data, recipes="fp32,int8", width=0.35, size=32, io_dtype="int8",
            calib_samples=8, eval_samples=8)
    convert("mobilenet_v2", out["uint8io"], data, recipes="int8", width=0.35, size=32, io_dtype="uint8",
            calib_samples=8, eval_samples=8)
    return out


def write_models(w: Writer, arrays: dict, folders: dict[str, str]) -> tuple[list[dict], dict]:
    """Per model folder: manifest.json (paths made machine-independent), labels.txt, and for every artifact and
    model image the input tensor bytes, raw output bytes, real scores and top-k."""
    from edgebb.data import preprocess
    from edgebb.runtimes import dequantize, load_artifact, quantize

    cases, manifests = [], {}
    for name, folder in folders.items():
        with open(os.path.join(folder, "manifest.json")) as f:
            manifest = json.load(f)
        if manifest.get("data", {}).get("path"):
            manifest["data"]["path"] = "shapes"  # a temporary folder: not part of what the vectors mean
        manifests[name] = manifest
        w.write(f"models/{name}/manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
        shutil.copyfile(os.path.join(folder, "labels.txt"), os.path.join(w.root, f"models/{name}/labels.txt"))
        pp = preprocessing(manifest["preprocessing"])
        for artifact in manifest["artifacts"]:
            path = os.path.join(folder, artifact["path"])
            recipe = artifact["recipe"]
            with load_artifact(path) as session:
                info, out_info = session.inputs[0], session.outputs[0]
                for image_name in MODEL_IMAGES:
                    x = preprocess(arrays[image_name], pp)[None]
                    typed = quantize(x, info) if info.quantized else x.astype(np.float32)
                    raw = np.asarray(session.invoke_raw(typed))
                    scores = (dequantize(raw, out_info) if out_info.quantized else raw.astype(np.float32))[0]
                    check = session.run(x)[0]
                    if not np.array_equal(check, scores):
                        raise SystemExit(f"{path}: Session.run disagrees with invoke_raw + dequantize on {image_name}")
                    order = np.argsort(-scores, kind="stable")[:TOP_K]
                    stem = f"models/{name}/{recipe}__{image_name}"
                    cases.append({
                        "model": name, "artifact": artifact["path"], "recipe": recipe, "image": image_name,
                        "input_dtype": info.dtype, "output_dtype": out_info.dtype,
                        "input": w.write(f"{stem}.in", typed.tobytes() if info.quantized else le_f32(typed)),
                        "output": w.write(f"{stem}.out", raw.tobytes() if out_info.quantized else le_f32(raw)),
                        "scores": w.write(f"{stem}.scores", le_f32(scores)),
                        "topk": [{"index": int(i), "label": manifest["labels"][int(i)], "score": float(scores[i])}
                                 for i in order],
                    })
    return cases, manifests


# ------------------------------------------------------------------------------------------- digest cases


def resize_cases() -> list[dict]:
    """Pillow resizes checked by digest: camera frames, extreme aspect ratios, 1-pixel lines, upscales, both sides of
    the pass-order threshold, and random sizes, on hash-noise and texture images, for bilinear (edgebb's filter) and
    bicubic / lanczos."""
    from PIL import Image

    sizes = [
        (640, 480, 341, 256), (480, 640, 256, 341), (1280, 720, 455, 256), (1920, 1080, 455, 256),
        (640, 480, 299, 224), (200, 131, 56, 37), (1000, 3, 10, 1), (3, 1000, 1, 10), (1, 1, 5, 7), (7, 5, 1, 1),
        (2, 2, 3, 3), (9, 1, 2, 1), (37, 50, 37, 51), (64, 64, 63, 64), (101, 99, 100, 100), (5, 640, 5, 256),
        # around Pillow 13's pass-order threshold (vertical first when the height shrinks > 2x the width's shrink)
        (30, 30, 15, 1), (30, 30, 16, 1), (30, 30, 16, 2), (30, 30, 17, 2), (40, 20, 30, 1), (40, 20, 31, 1),
        (50, 500, 40, 100), (480, 640, 224, 224), (2, 10, 1, 1), (3, 50, 1, 5),
    ]
    rng = np.random.default_rng(7)
    for _ in range(40):
        w, h = (int(v) for v in rng.integers(1, 400, 2))
        nw, nh = (int(v) for v in rng.integers(1, 300, 2))
        sizes.append((w, h, nw, nh))
    filters = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
               "lanczos": Image.Resampling.LANCZOS}
    cases = []
    for i, (w, h, nw, nh) in enumerate(sizes):
        kind = "noise" if i % 3 else "texture"
        names = ["bilinear"] + (["bicubic", "lanczos"] if i % 4 == 0 else [])
        image = Image.fromarray(hash_image(w, h, 100 + i, kind))
        for name in names:
            out = np.asarray(image.resize((nw, nh), filters[name]))
            cases.append({"width": w, "height": h, "seed": 100 + i, "kind": kind, "filter": name,
                          "out_width": nw, "out_height": nh, "sha256": sha256(out.tobytes())})
    return cases


def full_size_cases(manifests: dict) -> tuple[list[dict], dict]:
    """Camera-sized frames through the zoo's 224x224 preprocessing, the float tensor, and both quantizations of the
    tiny models' input (int8 and uint8 scale / zero point), checked by digest."""
    from edgebb.data import preprocess, preprocess_uint8
    from edgebb.runtimes import TensorInfo, quantize

    quant = {}
    for manifest in manifests.values():
        spec = next(a for a in manifest["artifacts"] if a["recipe"] == "int8")["inputs"][0]
        quant[spec["dtype"]] = TensorInfo(name=spec["name"], shape=tuple(spec["shape"]), dtype=spec["dtype"],
                                          scale=spec["scale"], zero_point=spec["zero_point"])
    frames = [(640, 480, 11, "noise"), (480, 640, 12, "texture"), (1280, 720, 13, "noise"), (224, 224, 14, "noise"),
              (300, 300, 15, "texture")]
    cases = []
    for w, h, seed, kind in frames:
        image = hash_image(w, h, seed, kind)
        for pp_name, spec in FULL_SIZE_PREPROCESSING.items():
            pp = preprocessing(spec)
            floats = preprocess(image, pp)
            case = {"width": w, "height": h, "seed": seed, "kind": kind, "preprocessing": pp_name,
                    "pixels_sha256": sha256(preprocess_uint8(image, pp).tobytes()),
                    "floats_sha256": sha256(le_f32(floats))}
            for dtype, info in sorted(quant.items()):
                case[f"{dtype}_sha256"] = sha256(quantize(floats, info).tobytes())
            cases.append(case)
    return cases, {k: {"scale": v.scale, "zero_point": v.zero_point} for k, v in sorted(quant.items())}


# ---------------------------------------------------------------------------------------------- bench side


def latency_cases() -> list[dict]:
    """Latency lists through edgebb.benchmark's own row code (`new_row` + `finish`): statistics, cv, throughput,
    GMAC/s."""
    from edgebb.benchmark.harness import finish, new_row
    from edgebb.benchmark.targets import Target

    rng = np.random.default_rng(11)
    lists = [rng.lognormal(1.5, 0.4, n).round(6).tolist() for n in
             (1, 2, 3, 7, 8, 9, 16, 17, 100, 127, 128, 129, 255, 256, 257, 1000)]
    lists.append([5.0] * 10)
    lists.append([3.0, 1.0, 2.0, 2.0, 10.0, 1.0])
    lists.append(rng.integers(1, 50, 333).astype(float).tolist())
    cases = []
    runtimes = ("litert", "litert-gpu", "nnapi")
    for i, times in enumerate(lists):
        macs = [None, 0, 6_123_456][i % 3]
        target = Target(model="mobilenet_v2", recipe=["fp32", "int8"][i % 2],
                        artifacts={"tflite": f"assets/mobilenet_v2_{['fp32', 'int8'][i % 2]}.tflite"}, macs=macs)
        runtime = runtimes[i % 3]
        row = new_row(target, runtime, 1 + i % 4, "tflite")
        row.target = "android"
        measured = {"status": "ok", "init_ms": 12.5 + i, "first_ms": 30.25 + i, "latencies_ms": times,
                    "peak_rss_mb": 150.0 + i, "rss_before_mb": 120.5, "rss_after_mb": 131.0 + i / 8}
        finish(row, measured, os.path.join(tempfile.gettempdir(), "edgebb-no-such-outputs.npy"))
        cases.append({"runtime": runtime, "threads": row.threads, "recipe": target.recipe, "macs": macs,
                      "path": row.path, "measured": measured, "row": row.to_dict()})
    return cases


def bench_schema(artifact: str) -> dict:
    """The shape of `edgebb bench --json` as a real run writes it: `edgebb.benchmark.bench` on the tiny fp32 model (a
    few timed runs in a worker process). Env keys that only some machines have are left out of the required list."""
    from edgebb.benchmark import bench
    from edgebb.benchmark import environment as envinfo
    from edgebb.benchmark.rows import LATENCY_KEYS

    report = bench([artifact], runtimes=("litert",), threads=(1,), runs=3, min_seconds=0.0, warmup=1,
                   baseline="none").to_dict()
    (row,) = report["results"]
    if row["status"] != "ok":
        raise SystemExit(f"edgebb bench failed on {artifact}: {row['error']}")
    # "peak" (the measured GEMM peak) only where edgebb's own bench probes it; the app does not
    optional = {"board", "cpu_governor", "cpu_freq_mhz", "cpu_freq_max_mhz", "emulation", "peak"}
    return {
        "schema": report["schema"],
        "report_keys": list(report),
        # "throttled" only where vcgencmd answers; "peak_fraction" only beside a measured peak; "conversion_check"
        # only for an artifact whose manifest the bench read
        "result_keys": [k for k in row if k not in ("throttled", "peak_fraction", "conversion_check")],
        "latency_keys": list(LATENCY_KEYS),
        "env_keys": [k for k in report["env"] if k not in optional],
        "relevant_flags": list(envinfo.RELEVANT_FLAGS),
        "arm_cores": dict(getattr(envinfo, "ARM_CORES", {})),
    }


CPUINFO_SAMPLES = {
    "android_arm64": "processor\t: 0\nBogoMIPS\t: 38.40\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 "
                     "atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\n"
                     "CPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: 0xd41\nCPU revision\t: 0\n\n"
                     "processor\t: 1\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp "
                     "cpuid asimdrdm lrcpc dcpop asimddp i8mm sve\nCPU part\t: 0xd44\n",
    "android_hardware_line": "Processor\t: AArch64 Processor rev 4 (aarch64)\nprocessor\t: 0\nFeatures\t: fp asimd "
                             "evtstrm crc32 cpuid\nCPU part\t: 0xd03\n\nHardware\t: Qualcomm Technologies, Inc "
                             "SM6125\n",
    "x86": "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nflags\t\t: fpu "
           "sse sse2 avx avx2 fma avx512f avx512_vnni\n",
    "empty": "",
}


def cpuinfo_cases() -> list[dict]:
    """edgebb.benchmark.environment.cpu_info on sample /proc/cpuinfo texts."""
    from edgebb.benchmark import environment as envinfo

    cases = []
    for name, text in CPUINFO_SAMPLES.items():
        info = envinfo.cpu_info(text)
        cases.append({"name": name, "text": text, "cpu_model": info["cpu_model"] if text else None,
                      "cpu_flags": info["cpu_flags"]})
    return cases


def diagnose_cases() -> list[dict]:
    """edgebb.benchmark.analysis.diagnose on fp32/int8 and fp32/int8-qat row pairs (the note names the recipe), for
    ARM without / with dotprod and x86 without VNNI: CPU and GPU rows, a GPU fallback, rows on a software adapter and
    under an emulator, and noise read from `spread` (or, in an older row, `cv`)."""
    from edgebb.benchmark.analysis import diagnose

    def row(recipe, runtime, threads, p50, **extra):
        return {"model": "mobilenet_v2", "artifact": f"mobilenet_v2_{recipe}.tflite", "recipe": recipe,
                "runtime": runtime, "threads": threads, "status": "ok", "latency_ms": {"p50": p50}, **extra}

    results = [row("fp32", "litert", 1, 10.0), row("int8", "litert", 1, 12.345), row("fp32", "litert", 4, 4.0),
               row("int8", "litert", 4, 3.0), row("fp32", "litert-gpu", 1, 2.0),
               row("int8", "litert-gpu", 1, 2.01, fully_accelerated=False),
               row("int8", "nnapi", 1, 5.0), {**row("fp32", "nnapi", 1, 1.0), "status": "failed"},
               row("fp32", "litert", 2, 1.005), row("int8", "litert", 2, 1.01),
               row("int8", "litert-gpu", 2, 3.0, software=True, adapter="SwiftShader"),
               row("fp32", "litert-gpu", 2, 1.0, software=True, adapter="SwiftShader"),
               row("fp32", "litert-gpu", 4, 1.0), row("int8", "litert-gpu", 4, 1.5),
               row("fp32", "litert", 3, 1.0, emulated=True), row("int8", "litert", 3, 2.0, emulated=True),
               row("int8-qat", "litert", 1, 11.0), row("int8-qat", "litert", 4, 3.9),
               # a few preempted runs: std / mean is large, the typical spread small, so 1.3x is no noise
               row("fp32", "litert", 5, 1.0, cv=0.9, spread=0.02), row("int8", "litert", 5, 1.3, cv=0.8, spread=0.03),
               # a report from before `spread`: its cv is the noise, and 1.3x is within twice 0.3
               row("fp32", "litert", 6, 1.0, cv=0.3), row("int8", "litert", 6, 1.3, cv=0.1)]
    envs = [{"machine": "aarch64", "cpu_flags": ["asimd", "fphp"]}, {"machine": "aarch64", "cpu_flags": ["asimddp"]},
            {"machine": "x86_64", "cpu_flags": ["avx2"]}, {"machine": "riscv64", "cpu_flags": []}]
    return [{"env": env, "results": results, "notes": diagnose(results, env)} for env in envs]


# --------------------------------------------------------------------------------------------------- main


def generate(out: str, *, reuse_images: str | None = None, models: bool = True, work: str | None = None) -> dict:
    """Write every vector into `out` (emptied first) and return the index. `reuse_images` copies the PNGs from an
    earlier vectors folder instead of drawing them; `models=False` skips the two conversions (a quick run)."""
    from PIL import Image  # noqa: F401  (fail early without pillow)

    import edgebb

    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    w = Writer(out)
    image_entries, arrays = write_images(w, make_images(), reuse_images)
    index: dict = {
        "schema": SCHEMA,
        "generator": "android_demo/tools/write_vectors.py",
        "generated_with": {"edgebb": edgebb.__version__, "numpy": np.__version__,
                           "pillow": metadata.version("pillow")},
        "images": image_entries,
    }
    configs = dict(EXTRA_PREPROCESSING)
    with tempfile.TemporaryDirectory(prefix="edgebb-vectors-", dir=work) as tmp:
        manifests: dict = {}
        model_cases: list = []
        if models:
            folders = convert_models(tmp)
            model_cases, manifests = write_models(w, arrays, folders)
            configs = {"model_32": manifests["int8io"]["preprocessing"], **configs}
            fp32 = next(a["path"] for a in manifests["int8io"]["artifacts"] if a["recipe"] == "fp32")
            index["bench_schema"] = bench_schema(os.path.join(folders["int8io"], fp32))
    index["preprocessing"] = configs
    index["preprocessing_cases"] = write_preprocessing(w, arrays, configs)
    index["model_cases"] = model_cases
    index["resize_cases"] = resize_cases()
    index["full_size_preprocessing"] = FULL_SIZE_PREPROCESSING
    if manifests:
        index["full_size_cases"], index["full_size_quantization"] = full_size_cases(manifests)
    index["latency_cases"] = latency_cases()
    index["cpuinfo_cases"] = cpuinfo_cases()
    index["diagnose_cases"] = diagnose_cases()
    w.write("index.json", (json.dumps(index, indent=1) + "\n").encode())
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.normpath(DEFAULT_OUT), help="vectors folder (replaced)")
    parser.add_argument("--reuse-images", default=None, help="copy the PNGs from this vectors folder")
    parser.add_argument("--no-models", action="store_true", help="skip the model conversions (quick, partial)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    index = generate(args.out, reuse_images=args.reuse_images, models=not args.no_models)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(args.out) for f in fs)
    print(f"wrote {args.out}: {len(index['preprocessing_cases'])} preprocessing, {len(index['model_cases'])} model, "
          f"{len(index['resize_cases'])} resize and {len(index.get('full_size_cases', []))} full-size cases "
          f"({size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
