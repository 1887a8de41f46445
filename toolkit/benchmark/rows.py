"""What a benchmark returns: a `BenchRow` per (artifact, runtime, threads) and a `BenchReport` holding them with
the environment, in the schema `edgebb bench --json` writes (edgebb.bench/1, documented in the README)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

SCHEMA = "edgebb.bench/1"
LATENCY_KEYS = ("mean", "std", "min", "p50", "p90", "p99", "max")
# Keys a row has only where they mean something (a GPU session, a profile, a board that reports throttling, a
# ratio to the baseline withheld: "no_ratio_because" says why).
OPTIONAL = ("adapter", "software", "fully_accelerated", "provider", "gpu_precision", "profile", "profile_note",
            "parity", "parity_error", "throttled", "remote_path", "peak_fraction", "sustained", "conversion_check",
            "no_ratio_because")
# The optional keys whose value is a dict, as CSV columns KEY_PART (the parity columns of a CPU row are empty).
NESTED = {"parity": ("max_abs_error", "top1_agreement", "samples", "near_ties", "precision", "random_weights"),
          "conversion_check": ("passed", "failed_because"), "sustained": ("seconds", "drift")}


@dataclass
class BenchRow:
    """One measurement. `latency_ms` holds LATENCY_KEYS; ratios are against the baseline row of the same recipe,
    runtime, threads and input size."""

    model: str
    artifact: str | None = None
    path: str | None = None
    format: str = ""
    recipe: str = ""
    runtime: str = ""
    input_size: int | None = None
    target: str = "cpu"
    threads: int = 1
    status: str = "skipped"
    error: str | None = None
    init_ms: float | None = None
    first_ms: float | None = None
    latency_ms: dict | None = None
    runs: int | None = None
    cv: float | None = None  # std / mean of the timed runs: a few preempted runs move it (see `spread`)
    spread: float | None = None  # the typical run-to-run variation, a share of p50 (spread_of); what noise weighs
    throughput_ips: float | None = None
    peak_rss_mb: float | None = None
    rss_delta_mb: float | None = None
    size_mb: float | None = None
    macs: int | None = None
    gmacs_per_s: float | None = None
    speedup_vs_baseline: float | None = None
    memory_ratio_vs_baseline: float | None = None
    baseline: bool = False
    emulated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # the OPTIONAL keys that apply
    outputs: np.ndarray | None = field(default=None, repr=False)  # for parity checks; never serialised

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def p50(self) -> float | None:
        return (self.latency_ms or {}).get("p50")

    def get(self, key: str, default=None):
        """An optional key's value (adapter, software, parity, throttled, ...)."""
        return self.extra.get(key, default)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("extra", "outputs")}
        data.update({k: self.extra[k] for k in OPTIONAL if k in self.extra})
        return data

    @classmethod
    def from_dict(cls, data: dict) -> BenchRow:
        """A row read back from JSON (a remote bench's report, a saved result, a hand-made or older row that may
        lack the model name: the artifact stands in for it)."""
        names = {f.name for f in fields(cls)} - {"extra", "outputs"}
        known = {k: v for k, v in data.items() if k in names}
        known.setdefault("model", data.get("artifact") or "unknown")
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def flat(self) -> dict:
        """The row for CSV: latency_ms, parity, conversion_check and sustained flattened into columns of scalars,
        the per-op profile left out. A CSV's columns are its first row's, so every row has every column, empty
        where it does not apply: the keys are the same for every row."""
        out = {k: v for k, v in self.to_dict().items() if k not in OPTIONAL and k != "latency_ms"}
        for k in LATENCY_KEYS:
            out[f"latency_{k}_ms"] = (self.latency_ms or {}).get(k)
        for key, parts in NESTED.items():
            value = self.get(key) or {}
            out.update({f"{key}_{k}": value.get(k) for k in parts})
        for key in OPTIONAL:
            if key not in NESTED and key != "profile":
                out[key] = self.get(key)
        if isinstance(self.get("throttled"), list):
            out["throttled"] = "; ".join(self.get("throttled"))
        return out


@dataclass
class BenchReport:
    env: dict
    results: list[BenchRow]
    notes: list[str]
    # Conditions that make the figures not comparable to a clean run (a device that throttled during it).
    warnings: list[str] = field(default_factory=list)
    # With --best: per model and input size, the fastest deployment whose accuracy holds (edgebb.benchmark.best).
    best: list[dict] | None = None

    @property
    def failed(self) -> list[BenchRow]:
        return [r for r in self.results if r.status == "failed"]

    def to_dict(self) -> dict:
        data = {"schema": SCHEMA, "env": self.env, "results": [r.to_dict() for r in self.results],
                "notes": self.notes, "warnings": self.warnings}
        if self.best is not None:
            data["best"] = self.best
        return data

    @classmethod
    def from_dict(cls, data: dict) -> BenchReport:
        return cls(env=dict(data.get("env", {})), results=[BenchRow.from_dict(r) for r in data.get("results", [])],
                   notes=list(data.get("notes", [])), warnings=list(data.get("warnings", [])),
                   best=data.get("best"))


# The interquartile range of a normal distribution, in standard deviations.
IQR_SIGMAS = 1.349


def spread_of(times_ms: list[float]) -> float | None:
    """How much a row's runs typically varied, as a share of its p50: the interquartile range / 1.349 / p50 (for
    normally distributed runs, their coefficient of variation). Unlike std / mean, the few runs an OS preempts
    (24 ms among 18,000 of 0.1 ms) do not move it; p99 and max show those."""
    a = np.asarray(times_ms, np.float64)
    p25, p50, p75 = (float(np.percentile(a, q)) for q in (25, 50, 75))
    return (p75 - p25) / IQR_SIGMAS / p50 if p50 else None


def noise(row) -> float | None:
    """The run-to-run variation of a measured row (a BenchRow or its dict) that comparisons weigh: its `spread`;
    a report written before edgebb recorded one has only `cv`."""
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k, None)
    return get("spread") if get("spread") is not None else get("cv")


def latency_stats(times_ms: list[float]) -> dict:
    """mean, std, min, p50, p90, p99, max of a list of latencies."""
    a = np.asarray(times_ms, np.float64)
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
            "p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max())}


def parity_of(reference: np.ndarray, outputs: np.ndarray) -> dict:
    """A GPU row's "parity": max abs error and top-1 agreement (%) of its `outputs` against the CPU's `reference`
    outputs for the same inputs, over the `samples` both have (a capped slow row computes fewer), and `near_ties`:
    how many of those samples have their two highest reference outputs within twice the max abs error of each
    other, a near-tie an error that size can reorder (every top-1 disagreement is one). A random network's outputs
    are near-ties; a trained one's top classes are far apart."""
    n = min(len(reference), len(outputs))
    a = np.asarray(reference[:n], np.float32).reshape(n, -1)
    b = np.asarray(outputs[:n], np.float32).reshape(n, -1)
    error = float(np.abs(a - b).max())
    near = 0
    if a.shape[1] > 1:
        top2 = np.sort(a, axis=1)[:, -2:]
        near = int(np.sum(top2[:, 1] - top2[:, 0] <= 2 * error))
    return {"max_abs_error": error, "top1_agreement": 100.0 * float(np.mean(a.argmax(1) == b.argmax(1))),
            "samples": n, "near_ties": near}


def flat_row(row: BenchRow | dict) -> dict:
    """A result flattened for CSV (a BenchRow, or its dict form)."""
    return (row if isinstance(row, BenchRow) else BenchRow.from_dict(row)).flat()
