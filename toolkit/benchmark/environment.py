"""The environment a benchmark ran in: CPU model and flags, cores, OS, Python, runtime versions, governor,
temperature and, on boards that have them, the board name and throttling state.

Reads only files and commands that exist on the machine; anything unreadable is left out, never guessed.
"""

from __future__ import annotations

import glob
import os
import platform
import subprocess

from ..core.cpu import (  # noqa: F401  (part of this module's API)
    ARM_CORES,
    RELEVANT_FLAGS,
    X86_MACHINES,
    cpu_info,
    int8_dot_products_saturate,
    read_text,
)

_read = read_text


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


# `vcgencmd get_throttled` bits (Raspberry Pi firmware). The low bits say what holds now; bits 16-19 say what has
# happened since boot and stay set until a reboot.
THROTTLE_NOW = {0: "under-voltage", 1: "ARM frequency capped", 2: "throttled", 3: "soft temperature limit"}
THROTTLE_SINCE_BOOT = {16 + bit: name for bit, name in THROTTLE_NOW.items()}

# Kernel architectures that run each other's user space natively (a 64-bit Raspberry Pi kernel runs 32-bit armv7
# Raspberry Pi OS); a process whose machine is outside its kernel's family is being emulated.
_ARCH_FAMILIES = {"x86_64": "x86", "amd64": "x86", "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86",
                  "aarch64": "arm", "arm64": "arm", "armv6l": "arm", "armv7l": "arm", "armv8l": "arm", "arm": "arm",
                  "riscv64": "riscv", "ppc64le": "ppc", "ppc64": "ppc", "s390x": "s390"}


def throttle_flags(value: str | None, *, since_boot: bool = True) -> list[str]:
    """The names of the bits set in a `vcgencmd get_throttled` value ("0x50005"); [] for None or "0x0".

    `since_boot=False` leaves out the sticky "has occurred since boot" bits."""
    try:
        bits = int(value, 16) if value else 0
    except ValueError:
        return []
    names = [name for bit, name in THROTTLE_NOW.items() if bits >> bit & 1]
    if since_boot:
        names += [f"{name} (since boot)" for bit, name in THROTTLE_SINCE_BOOT.items() if bits >> bit & 1]
    return names


def throttled_between(before: str | None, after: str | None) -> list[str]:
    """What throttled between two `vcgencmd get_throttled` readings: the conditions active at either reading, and
    the sticky since-boot conditions that were newly set by the second. [] when nothing did (or no readings)."""
    try:
        b, a = (int(v, 16) if v else 0 for v in (before, after))
    except ValueError:
        return []
    seen = {name for bit, name in THROTTLE_NOW.items() if (a | b) >> bit & 1}
    seen |= {name for bit, name in THROTTLE_SINCE_BOOT.items() if (a & ~b) >> bit & 1}
    return [name for name in THROTTLE_NOW.values() if name in seen]


def emulation() -> str | None:
    """How this process is emulated, or None when it runs natively.

    EDGEBB_EMULATED (set by a harness such as `make pi-smoke`, e.g. "qemu-aarch64-cortex-a72") wins. Otherwise a
    machine (as uname reports it; qemu-user reports the guest's) outside the family of the kernel's own
    architecture (/proc/sys/kernel/arch, which qemu-user passes through from the host) means user-mode emulation.
    """
    label = os.environ.get("EDGEBB_EMULATED", "").strip()
    if label and label.lower() not in ("0", "no", "false"):
        return label
    kernel = _read("/proc/sys/kernel/arch")
    machine = platform.machine().lower()
    if kernel and machine in _ARCH_FAMILIES and kernel.lower() in _ARCH_FAMILIES:
        if _ARCH_FAMILIES[machine] != _ARCH_FAMILIES[kernel.lower()]:
            return f"user-mode emulation ({machine} on an {kernel} kernel)"
    return None


def cpu_busy(seconds: float = 0.5) -> float | None:
    """The fraction of this machine's CPU time other work used over `seconds` while edgebb waited (0 = idle, 1 =
    every core busy), from /proc/stat; None where it cannot be read. Unlike the load average, it does not count
    edgebb's own work of the last minute (a conversion just before a bench)."""
    import time

    def sample():
        line = (_read("/proc/stat") or "").splitlines()[0:1]
        if not line or not line[0].startswith("cpu "):
            return None
        values = [int(v) for v in line[0].split()[1:]]
        return sum(values), values[3] + (values[4] if len(values) > 4 else 0)  # total, idle + iowait

    first = sample()
    if first is None:
        return None
    time.sleep(seconds)
    second = sample()
    total = second[0] - first[0]
    return round(1.0 - (second[1] - first[1]) / total, 3) if total > 0 else None


def cpu_freq_mhz() -> float | None:
    """cpu0's current frequency in MHz (cpufreq's scaling_cur_freq), else None."""
    freq = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    return int(freq) / 1000.0 if freq and freq.isdigit() else None


def device_state() -> dict:
    """What changes during a run on a device: CPU frequency, temperature and the throttling flags (None where
    unreadable). Read before and after a benchmark, so a throttled run can be told from a clean one."""
    return {"cpu_freq_mhz": cpu_freq_mhz(), "temperature_c": temperature_c(), "throttled": throttled()}


def environment() -> dict:
    """Everything about this machine that a benchmark figure depends on."""
    from .. import __version__
    from ..core.versions import package_versions

    env = {"edgebb": __version__, **cpu_info(), "os": platform.platform(), "python": platform.python_version()}
    board = _read("/proc/device-tree/model")
    if board:
        env["board"] = board
    governor = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    if governor:
        env["cpu_governor"] = governor
    freq = cpu_freq_mhz()
    if freq:
        env["cpu_freq_mhz"] = freq
    max_freq = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq")
    if max_freq and max_freq.isdigit():
        env["cpu_freq_max_mhz"] = int(max_freq) / 1000.0
    env["temperature_c"] = temperature_c()
    env["throttled"] = throttled()
    label = emulation()
    env["emulated"] = label is not None
    if label:
        env["emulation"] = label
    env["versions"] = package_versions(("ai-edge-litert", "tflite-runtime", "onnxruntime", "tensorflow", "numpy"))
    return env


def int8_speed_hint(env: dict) -> str:
    """The likely reason int8 is no faster than float on this CPU, from its flags."""
    flags = set(env.get("cpu_flags", []))
    machine = (env.get("machine") or "").lower()
    if machine in X86_MACHINES:
        if int8_dot_products_saturate(env):
            return "this x86 CPU has no VNNI (AVX512-VNNI / AVX-VNNI): int8 dot products take several instructions"
        return ("this CPU has VNNI, so int8 dot products are not the bottleneck; likely causes: quantize / requantize "
                "steps, ops without fast int8 kernels, or a small model where float kernels use AVX-512 well")
    if machine in ("aarch64", "arm64", "armv7l", "armv8l"):
        if "asimddp" not in flags:
            return "this ARM CPU has no dotprod (asimddp): int8 dot products cannot use SDOT"
        return "this ARM CPU has dotprod; look for ops without int8 kernels or quantize/dequantize at the edges"
    return "no known int8 acceleration on this CPU"
