"""Selection: which backbone to ship, measured on the user's data and device.

    grid (SweepOptions, TOML) -> plan (checks, keys) -> sweep (the driver) -> executors (local: a process pool)
    -> stages (prepare, convert, measure) -> store (SQLite) -> pareto, latency_model -> recommend

`sweep()` runs a grid into a store; `recommend()` answers from one. Imports no TensorFlow: only the prepare and
convert stages do, inside the worker that runs them.
"""

from .grid import SweepOptions
from .recommend import Budget, Recommendation, recommend
from .store import Store
from .sweep import SweepResult, sweep

__all__ = ["Budget", "Recommendation", "Store", "SweepOptions", "SweepResult", "recommend", "sweep"]
