"""Benchmarking: latency and memory of artifacts on this machine's runtimes or a device over SSH, against
ResNet-50. Imports no TensorFlow (a backbone given by name is converted by edgebb.conversion, on demand).

    targets (artifacts, manifests, names) -> harness (one worker process per row) -> rows (BenchRow, BenchReport)
    -> analysis (int8 diagnosis, throttling); environment (the machine); remote (the same over SSH)
"""

from .harness import bench
from .options import BenchOptions
from .rows import BenchReport, BenchRow

__all__ = ["BenchOptions", "BenchReport", "BenchRow", "bench"]
