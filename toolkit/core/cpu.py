"""The CPU this process runs on, from /proc/cpuinfo: its model and the flags that decide how fast (and, for ONNX
Runtime's int8 kernels on x86, how exactly) float and int8 kernels run. Used by benchmarks to describe a machine
and by conversion to choose int8 ONNX weights.
"""

from __future__ import annotations

import os
import platform

# Flags that decide how fast int8 and float kernels can be: x86 VNNI (int8 dot products), AVX-512/AVX2/FMA;
# ARM asimddp ("dotprod", int8 dot products), i8mm, fp16 arithmetic.
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8",
                  "neon", "asimd", "asimddp", "i8mm", "fphp", "asimdhp", "sve")


def read_text(path: str) -> str | None:
    """A small system file's text, or None where it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace").strip("\x00\n ")
    except OSError:
        return None


# x86 flags of an int8 dot product that accumulates in 32 bits (no saturating int16 pair sum in between)
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
X86_MACHINES = ("x86_64", "amd64", "i686", "i386")


# Arm Ltd. cores (CPU implementer 0x41) by their "CPU part": an arm64 /proc/cpuinfo names no model, and a
# Raspberry Pi's says only "BCM2835" as its Hardware, whatever the board.
ARM_CORES = {"0xb76": "ARM1176", "0xc07": "Cortex-A7", "0xd03": "Cortex-A53", "0xd04": "Cortex-A35",
             "0xd05": "Cortex-A55", "0xd07": "Cortex-A57", "0xd08": "Cortex-A72", "0xd09": "Cortex-A73",
             "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76", "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77",
             "0xd41": "Cortex-A78", "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710"}


def cpu_info(text: str | None = None) -> dict:
    """Model, relevant flags, cores and machine, from /proc/cpuinfo (or `text`, a sample of it)."""
    text = (read_text("/proc/cpuinfo") if text is None else text) or ""
    model, flags, fields = None, set(), {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        fields.setdefault(key, value.strip())
        if key in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features"):
            flags.update(value.split())
    core = ARM_CORES.get(fields.get("cpu part", "").lower()) if fields.get("cpu implementer") == "0x41" else None
    if core:
        model = f"{core} ({model})" if model else core
    elif not model and "cpu part" in fields:
        model = f"ARM part {fields['cpu part']}"
    return {"cpu_model": model or platform.processor() or None,
            "cpu_flags": sorted(f for f in flags if f in RELEVANT_FLAGS),
            "cores": os.cpu_count(), "machine": platform.machine()}


def int8_dot_products_saturate(cpu: dict) -> bool:
    """Whether uint8 x int8 dot products on `cpu` (a `cpu_info`) go through a saturating int16 sum of product pairs
    (x86's VPMADDUBSW), as they do on x86 without a VNNI dot product (AVX-512 VNNI, AVX-VNNI or AMX)."""
    x86 = (cpu.get("machine") or "").lower() in X86_MACHINES
    return x86 and not set(cpu.get("cpu_flags") or ()) & VNNI_FLAGS
