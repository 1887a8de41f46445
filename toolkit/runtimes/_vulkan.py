"""Vulkan devices as LiteRT's GPU path sees them, and the plumbing that makes Mesa's lavapipe usable beside
TensorFlow: which devices the Vulkan loader lists (asked through ctypes, no vulkan-tools needed), which of them
Dawn (WebGPU, under LiteRT) accepts, lavapipe preloaded with RTLD_DEEPBIND, and a private XDG_RUNTIME_DIR.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import tempfile
from dataclasses import dataclass

from .base import RuntimeUnavailable

# Adapter names of software rasterizers: Mesa's llvmpipe/lavapipe and softpipe, Google's SwiftShader.
SOFTWARE_ADAPTER = re.compile(r"llvmpipe|lavapipe|softpipe|swiftshader", re.IGNORECASE)

# VkPhysicalDeviceFeatures members (by position in the struct) that Dawn refuses an adapter without. Mesa 22's
# lavapipe (Debian bookworm) fails here: Dawn logs "Vulkan shaderUniform*ArrayDynamicIndexing required.".
_DAWN_REQUIRED_FEATURES = {33: "shaderUniformBufferArrayDynamicIndexing", 34: "shaderSampledImageArrayDynamicIndexing",
                           35: "shaderStorageBufferArrayDynamicIndexing", 36: "shaderStorageImageArrayDynamicIndexing"}

# VkPhysicalDeviceType -> name, and the order of preference assumed for Dawn (LiteRT asks it for high performance);
# used only to name the adapter when LiteRT's log does not.
_VK_DEVICE_TYPES = {0: "other", 1: "integrated", 2: "discrete", 3: "virtual", 4: "cpu"}
_VK_PREFERENCE = ("discrete", "integrated", "virtual", "other", "cpu")


INSTALL_HINT = "a GPU-less Debian machine needs mesa-vulkan-drivers >= 25 (bookworm: bash .ci/gpu-setup.sh)"


@dataclass(frozen=True)
class VulkanDevice:
    """A Vulkan physical device as the Vulkan loader lists it.

    `kind` is "discrete", "integrated", "virtual", "cpu" (a software rasterizer) or "other"; `driver` is the driver's
    own description (e.g. "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)"), "" when the device predates Vulkan 1.2; `missing`
    lists the Vulkan features Dawn requires that the device lacks.
    """

    name: str
    kind: str
    api_version: str
    driver: str
    missing: tuple[str, ...]

    @property
    def software(self) -> bool:
        """True for a CPU implementation of Vulkan (lavapipe, SwiftShader)."""
        return self.kind == "cpu" or bool(SOFTWARE_ADAPTER.search(self.name))


@functools.lru_cache(maxsize=1)
def vulkan_devices() -> tuple[tuple[VulkanDevice, ...], str]:
    """The Vulkan devices of this machine, asked of the Vulkan loader itself (libvulkan.so.1, through ctypes).

    Returns (devices, "") or ((), one-line reason) when there is no loader, no driver or no device. Cached: the
    answer does not change while the process runs. This is what Dawn, under LiteRT, enumerates too; asking first
    turns "No adapters found" into a reason, and needs neither vulkan-tools nor a GPU context.
    """
    import ctypes

    _preload_lavapipe()  # before the loader opens the drivers: see there
    try:
        vk = ctypes.CDLL("libvulkan.so.1")
    except OSError:
        return (), f"no Vulkan loader (libvulkan.so.1 is not installed); {INSTALL_HINT}"

    c_u32, c_ptr = ctypes.c_uint32, ctypes.c_void_p

    class InstanceCreateInfo(ctypes.Structure):
        _fields_ = [("sType", c_u32), ("pNext", c_ptr), ("flags", c_u32), ("pApplicationInfo", c_ptr),
                    ("enabledLayerCount", c_u32), ("ppEnabledLayerNames", c_ptr),
                    ("enabledExtensionCount", c_u32), ("ppEnabledExtensionNames", c_ptr)]

    class ApplicationInfo(ctypes.Structure):
        _fields_ = [("sType", c_u32), ("pNext", c_ptr), ("pApplicationName", ctypes.c_char_p),
                    ("applicationVersion", c_u32), ("pEngineName", ctypes.c_char_p), ("engineVersion", c_u32),
                    ("apiVersion", c_u32)]

    class DeviceProperties(ctypes.Structure):
        # The members read here, then room for the rest of VkPhysicalDeviceProperties (824 bytes in all).
        _fields_ = [("apiVersion", c_u32), ("driverVersion", c_u32), ("vendorID", c_u32), ("deviceID", c_u32),
                    ("deviceType", c_u32), ("deviceName", ctypes.c_char * 256), ("rest", ctypes.c_ubyte * 1024)]

    class DriverProperties(ctypes.Structure):
        _fields_ = [("sType", c_u32), ("pNext", c_ptr), ("driverID", c_u32), ("driverName", ctypes.c_char * 256),
                    ("driverInfo", ctypes.c_char * 256), ("conformanceVersion", ctypes.c_ubyte * 4)]

    class DeviceProperties2(ctypes.Structure):
        _fields_ = [("sType", c_u32), ("pNext", c_ptr), ("properties", DeviceProperties)]

    def version(v: int) -> str:
        return f"{(v >> 22) & 0x7F}.{(v >> 12) & 0x3FF}.{v & 0xFFF}"

    # Vulkan 1.1 for vkGetPhysicalDeviceProperties2 (the driver's description), when the loader has it.
    api = 1 << 22
    loader_version = c_u32(api)
    if hasattr(vk, "vkEnumerateInstanceVersion") and vk.vkEnumerateInstanceVersion(ctypes.byref(loader_version)) == 0:
        api = min(loader_version.value, (1 << 22) | (1 << 12))
    app = ApplicationInfo(sType=0, pApplicationName=b"edgebb", pEngineName=b"edgebb", apiVersion=api)
    info = InstanceCreateInfo(sType=1, pApplicationInfo=ctypes.cast(ctypes.pointer(app), c_ptr))
    instance = c_ptr()
    result = vk.vkCreateInstance(ctypes.byref(info), None, ctypes.byref(instance))
    if result == -9:  # VK_ERROR_INCOMPATIBLE_DRIVER: the loader found no driver (ICD) at all
        return (), f"no Vulkan driver: the Vulkan loader finds no ICD; {INSTALL_HINT}"
    if result != 0:
        return (), f"Vulkan instance creation failed (VkResult {result})"
    try:
        count = c_u32(0)
        vk.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), None)
        handles = (c_ptr * count.value)()
        if count.value:
            vk.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), handles)
        properties2 = getattr(vk, "vkGetPhysicalDeviceProperties2", None) if api > 1 << 22 else None
        devices = []
        for handle in handles[: count.value]:
            props = DeviceProperties()
            vk.vkGetPhysicalDeviceProperties(c_ptr(handle), ctypes.byref(props))
            features = (c_u32 * 64)()  # VkPhysicalDeviceFeatures: 55 VkBool32
            vk.vkGetPhysicalDeviceFeatures(c_ptr(handle), ctypes.byref(features))
            driver = ""
            if properties2 is not None and props.apiVersion >= (1 << 22) | (2 << 12):
                # VkPhysicalDeviceDriverProperties is core from Vulkan 1.2; asking an older device is invalid.
                drv = DriverProperties(sType=1000196000)
                props2 = DeviceProperties2(sType=1000059001, pNext=ctypes.cast(ctypes.pointer(drv), c_ptr))
                properties2(c_ptr(handle), ctypes.byref(props2))
                driver = drv.driverInfo.decode(errors="replace")
            devices.append(VulkanDevice(
                name=props.deviceName.decode(errors="replace"), kind=_VK_DEVICE_TYPES.get(props.deviceType, "other"),
                api_version=version(props.apiVersion), driver=driver,
                missing=tuple(name for index, name in _DAWN_REQUIRED_FEATURES.items() if not features[index])))
    finally:
        vk.vkDestroyInstance(instance, None)
    if not devices:
        return (), f"no Vulkan device: the Vulkan loader lists none; {INSTALL_HINT}"
    return tuple(devices), ""


def _vulkan_icd_manifests() -> list[str]:
    """The Vulkan driver manifests (ICD .json files) the Vulkan loader reads, in the loader's search order."""
    env = os.environ
    listed = env.get("VK_DRIVER_FILES") or env.get("VK_ICD_FILENAMES")
    if listed:
        places = listed.split(os.pathsep)
    else:
        home = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
        places = [os.path.join(d, "vulkan", "icd.d") for d in
                  [*(env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep), "/etc", home,
                   *(env.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(os.pathsep)]]
    places += [p for p in env.get("VK_ADD_DRIVER_FILES", "").split(os.pathsep) if p]
    found = []
    for place in places:
        if os.path.isdir(place):
            found += sorted(os.path.join(place, f) for f in os.listdir(place) if f.endswith(".json"))
        elif place.endswith(".json") and os.path.isfile(place):
            found.append(place)
    return found


@functools.lru_cache(maxsize=1)
def _preload_lavapipe() -> list[str]:
    """Load Mesa's lavapipe driver with RTLD_DEEPBIND before the Vulkan loader opens it; returns what was loaded.

    TensorFlow loads its libraries RTLD_GLOBAL and exports the LLVM it embeds (libtensorflow_framework.so.2 defines
    12,000 llvm:: symbols). Lavapipe compiles shaders with the system's libLLVM; opened the usual way in a process
    that has imported TensorFlow, its LLVM calls bind to TensorFlow's LLVM of another version, and LiteRT's first
    vkCreateDevice crashes the process (seen with TensorFlow 2.21 and Mesa 25.0.7). Bound deep, lavapipe and the
    libLLVM it brings resolve their symbols in their own dependencies first, whatever the process loads before or
    after; the loader's own dlopen of the same library later returns this copy. Other drivers are left alone."""
    import ctypes
    import json

    loaded: list[str] = []
    if not hasattr(os, "RTLD_DEEPBIND"):  # glibc's; lavapipe elsewhere is not this module's business
        return loaded
    for manifest in _vulkan_icd_manifests():
        try:
            with open(manifest) as f:
                library = json.load(f)["ICD"]["library_path"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not os.path.basename(library).startswith("libvulkan_lvp"):
            continue
        if "/" in library and not os.path.isabs(library):  # relative paths are relative to the manifest
            library = os.path.join(os.path.dirname(manifest), library)
        try:
            ctypes.CDLL(library, mode=os.RTLD_LAZY | os.RTLD_DEEPBIND)
            loaded.append(library)
        except OSError:
            continue  # a stale manifest: the loader will skip it as well
    return loaded


def usable_vulkan_device() -> VulkanDevice:
    """The device Dawn would pick: the first, in its order of preference, that has what Dawn requires.
    Raises RuntimeUnavailable saying why there is none."""
    devices, reason = vulkan_devices()
    if not devices:
        raise RuntimeUnavailable(reason)
    usable = [d for d in devices if not d.missing]
    if not usable:
        d = devices[0]
        described = f"{d.name}, {d.driver}" if d.driver else d.name
        raise RuntimeUnavailable(f"Vulkan device {described} lacks {', '.join(d.missing)}, which LiteRT's WebGPU "
                                 f"(Dawn) requires; {INSTALL_HINT}")
    return min(usable, key=lambda d: _VK_PREFERENCE.index(d.kind))



def ensure_xdg_runtime_dir() -> None:
    """Set XDG_RUNTIME_DIR to a private directory when it is unset (CI jobs, containers, cron: no login session).

    LiteRT 2.3.0 on Mesa 25.0.7's lavapipe was seen to run without it, but setups of LiteRT's WebGPU on lavapipe
    call for it: of the libraries the GPU path loads, libwayland-client (pulled in by Mesa's Vulkan window-system
    code) reads it to find a compositor's socket, and prints "error: XDG_RUNTIME_DIR is invalid or not set" when it
    must look and cannot. An empty directory, mode 0700 as the XDG spec requires, answers that lookup at no cost;
    it is removed at exit. A value that is set is left alone."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    path = tempfile.mkdtemp(prefix="edgebb-xdg-")  # mkdtemp creates it 0700, owned by this user
    os.environ["XDG_RUNTIME_DIR"] = path
    atexit.register(shutil.rmtree, path, True)
