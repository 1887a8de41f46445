"""The model file formats edgebb reads and writes, as one table: name, suffixes, how to recognise the bytes, and
the runtime that loads a file of that format when none is named.

| format | suffixes        | recognised by                        | default runtime | made by convert |
| ------ | --------------- | ------------------------------------ | --------------- | --------------- |
| tflite | .tflite         | "TFL3" at bytes 4..8 (flatbuffer id) | litert          | yes             |
| onnx   | .onnx           | a protobuf ModelProto field tag      | onnxruntime     | yes             |
| keras  | .keras, .h5     | a zip archive / an HDF5 signature    | keras           | no (the source) |

A file can have a whole header and a cut body: `Format.damage` asks the format's own parser (LiteRT's flatbuffer
verifier, onnx's protobuf reader), where it is installed, before bench measures anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from .errors import InputError
from .registry import Registry

MIN_BYTES = 16  # no model of any format is smaller; below this a file is truncated


@dataclass(frozen=True)
class Format:
    name: str
    suffixes: tuple[str, ...]
    default_runtime: str
    description: str
    recognise: Callable[[bytes], bool]
    artifact: bool  # whether `edgebb convert` produces it
    # the format's own parser, where installed: why a file whose header is whole cannot be read, or None
    parse: Callable[[str], str | None] | None = None

    @property
    def suffix(self) -> str:
        """The suffix convert gives files of this format."""
        return self.suffixes[0]

    def problem(self, path: str) -> str | None:
        """Why the file at `path` is not a readable file of this format (a short phrase), or None."""
        if not os.path.exists(path):
            return "artifact not found"
        if not os.path.isfile(path):
            return "not a file"
        size = os.path.getsize(path)
        if size < MIN_BYTES:
            return f"{'empty' if size == 0 else 'truncated'} file ({size} bytes)"
        try:
            with open(path, "rb") as f:
                head = f.read(16)
        except OSError as exc:
            return f"cannot read it ({exc.strerror})"
        if not self.recognise(head):
            return f"not {self.description}"
        return None

    def damage(self, path: str) -> str | None:
        """Why a file that `problem` passes is still truncated or corrupt, as the format's own parser finds it
        (reading the whole file, building no session), or None; None also where that parser is not installed."""
        return self.parse(path) if self.parse else None


def _tflite_damage(path: str) -> str | None:
    try:
        from ai_edge_litert import interpreter as lite
    except ImportError:
        try:
            from tflite_runtime import interpreter as lite
        except ImportError:
            return None
    try:  # reads and verifies the flatbuffer; no delegate, nothing allocated
        lite.Interpreter(model_path=path,
                         experimental_op_resolver_type=lite.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    except (AttributeError, TypeError):  # an interpreter too old to be asked this way: its run will tell
        return None
    except ValueError as exc:
        if "flatbuffer" in str(exc).lower():  # (an op this build lacks may still run on the device)
            return "truncated or corrupt: not a valid TFLite flatbuffer"
    return None


def _onnx_damage(path: str) -> str | None:
    try:
        import onnx
    except ImportError:
        return None
    try:
        onnx.load(path, load_external_data=False)
    except Exception:  # protobuf's DecodeError (and its Python/upb variants)
        return "truncated or corrupt: not a valid ONNX protobuf"
    return None


FORMATS: Registry[Format] = Registry("format")
FORMATS.register(Format("tflite", (".tflite",), "litert", "a TFLite model (no TFL3 identifier)",
                        lambda head: head[4:8] == b"TFL3", artifact=True, parse=_tflite_damage))
# A serialized ModelProto starts with one of its field tags: ir_version (0x08), opset_import (0x42), producer_name
# (0x12), producer_version (0x1a), domain (0x22), graph (0x3a), ...
FORMATS.register(Format("onnx", (".onnx",), "onnxruntime", "an ONNX model (not a protobuf ModelProto)",
                        lambda head: head[:1] in (b"\x08", b"\x12", b"\x1a", b"\x22", b"\x3a", b"\x42"),
                        artifact=True, parse=_onnx_damage))
FORMATS.register(Format("keras", (".keras", ".h5"), "keras", "a Keras model (neither a .keras zip nor HDF5)",
                        lambda head: head[:4] == b"PK\x03\x04" or head[:8] == b"\x89HDF\r\n\x1a\n", artifact=False))


def format_for(path: str) -> Format | None:
    """The format a file's suffix names, or None."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    return next((f for f in FORMATS.values() if suffix in f.suffixes), None)


def require_format(path: str) -> Format:
    """The format of `path` by its suffix; InputError naming the known suffixes otherwise."""
    fmt = format_for(path)
    if fmt is None:
        known = ", ".join(s for f in FORMATS.values() for s in f.suffixes)
        raise InputError(f"no runtime for {path}: the suffix must be one of {known}")
    return fmt


def artifact_formats() -> list[str]:
    """Names of the formats convert produces (tflite, onnx)."""
    return [f.name for f in FORMATS.values() if f.artifact]
