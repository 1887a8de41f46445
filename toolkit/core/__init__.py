"""What every stage stands on: errors, atomic files, the Registry, Progress, the cache root, quiet native output,
the TensorFlow loader, the Format table, option checks and JSON/CSV. Imports nothing heavy."""

from .errors import CheckFailed, EdgebbError, InputError, first_line, unknown_name
from .registry import Registry

__all__ = ["CheckFailed", "EdgebbError", "InputError", "Registry", "first_line", "unknown_name"]
