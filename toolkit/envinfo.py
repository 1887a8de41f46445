"""The environment a benchmark ran in: CPU model and flags, cores, OS, Python, runtime versions, governor,
temperature and, on boards that have them, the board name and throttling state.

Reads only files and commands that exist on the machine; anything unreadable is left out, never guessed.
"""

from __future__ import annotations

import glob
import os
import platform
import subprocess

# Flags that decide how fast int8 and float kernels can be: x86 VNNI (int8 dot products), AVX-512/AVX2/FMA;
# ARM asimddp ("dotprod", int8 dot products), i8mm, fp16 arithmetic.
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8",
                  "neon", "asimd", "asimddp", "i8mm", "fphp", "asimdhp", "sve")


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace").strip("\x00\n ")
    except OSError:
        return None


def cpu_info() -> dict:
    text = _read("/proc/cpuinfo") or ""
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features"):
            flags.update(value.split())
    if not model and "CPU part" in text:
        model = f"ARM part {[ln.split(':')[1].strip() for ln in text.splitlines() if 'CPU part' in ln][0]}"
    return {"cpu_model": model or platform.processor() or None,
            "cpu_flags": sorted(f for f in flags if f in RELEVANT_FLAGS),
            "cores": os.cpu_count(), "machine": platform.machine()}


def temperature_c() -> float | None:
    """The SoC / CPU temperature in degrees C from the first readable thermal zone, else None."""
    for zone in sorted(glob.glob("/sys/class/thermal/thermal_zone*/temp")):
        value = _read(zone)
        if value and value.lstrip("-").isdigit():
            return int(value) / 1000.0
    return None


def throttled() -> str | None:
    """`vcgencmd get_throttled` on a Raspberry Pi (e.g. "0x0"), else None."""
    try:
        out = subprocess.run(["vcgencmd", "get_throttled"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip().partition("=")[2] or None


def environment() -> dict:
    """Everything about this machine that a benchmark figure depends on."""
    from importlib import metadata

    from . import __version__

    env = {"edgebb": __version__, **cpu_info(), "os": platform.platform(), "python": platform.python_version()}
    board = _read("/proc/device-tree/model")
    if board:
        env["board"] = board
    governor = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    if governor:
        env["cpu_governor"] = governor
    freq = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    if freq and freq.isdigit():
        env["cpu_freq_mhz"] = int(freq) / 1000.0
    env["temperature_c"] = temperature_c()
    env["throttled"] = throttled()
    versions = {}
    for package in ("ai-edge-litert", "tflite-runtime", "onnxruntime", "tensorflow", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    env["versions"] = versions
    return env


def int8_speed_hint(env: dict) -> str:
    """The likely reason int8 is no faster than float on this CPU, from its flags."""
    flags = set(env.get("cpu_flags", []))
    machine = (env.get("machine") or "").lower()
    if machine in ("x86_64", "amd64", "i686"):
        if not flags & {"avx512_vnni", "avx_vnni", "amx_int8"}:
            return "this x86 CPU has no VNNI (AVX512-VNNI / AVX-VNNI): int8 dot products take several instructions"
        return ("this CPU has VNNI, so int8 dot products are not the bottleneck; likely causes: quantize / requantize "
                "steps, ops without fast int8 kernels, or a small model where float kernels use AVX-512 well")
    if machine in ("aarch64", "arm64", "armv7l", "armv8l"):
        if "asimddp" not in flags:
            return "this ARM CPU has no dotprod (asimddp): int8 dot products cannot use SDOT"
        return "this ARM CPU has dotprod; look for ops without int8 kernels or quantize/dequantize at the edges"
    return "no known int8 acceleration on this CPU"
