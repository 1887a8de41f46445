"""Estimate, then measure: a latency (or memory) model of one target, fitted on that target's measured cells.

Least squares on log features — log MACs, log parameters, log peak activation bytes, and one-hot family, recipe
and runtime — predicting log p50 (a small ridge term keeps it stable with few cells; numpy only). Its error is
reported as leave-one-out relative error over the measured cells: each one predicted by a model fitted without
it. MACs alone do not predict latency (depthwise convolutions, int8 kernels, memory traffic); the family and
recipe terms are where that shows, and the error says how far to trust an estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

NUMERIC = ("macs", "params", "peak_activation_bytes")
CATEGORICAL = ("family", "recipe", "runtime")
MIN_CELLS = 3  # fewer measured cells than this: no model
RIDGE = 1e-2


def _numeric(row: dict) -> list[float] | None:
    values = [row.get(k) for k in NUMERIC]
    if any(v is None or v <= 0 for v in values):
        return None
    return [math.log(float(v)) for v in values]


@dataclass
class LatencyModel:
    """A fitted model: `predict(row)` for a cell's figures (its MACs, params, activations, family, recipe,
    runtime); `loo_errors` are the leave-one-out relative errors on the cells it was fitted on."""

    metric: str
    levels: dict[str, list[str]]
    coef: np.ndarray
    intercept: float
    cells: int
    loo_errors: list[float] = field(default_factory=list)

    @property
    def median_error(self) -> float | None:
        return float(np.median(self.loo_errors)) if self.loo_errors else None

    @property
    def max_error(self) -> float | None:
        return float(np.max(self.loo_errors)) if self.loo_errors else None

    def features(self, row: dict) -> np.ndarray | None:
        numeric = _numeric(row)
        if numeric is None:
            return None
        onehot = [1.0 if row.get(name) == level else 0.0 for name in CATEGORICAL for level in self.levels[name][1:]]
        return np.asarray(numeric + onehot)

    def predict(self, row: dict) -> float | None:
        """The estimated metric of `row`, or None when its MACs, parameters or activations are unknown."""
        x = self.features(row)
        if x is None:
            return None
        return float(math.exp(self.intercept + x @ self.coef))

    def unseen(self, row: dict) -> list[str]:
        """The categories of `row` that no fitted cell had (its estimate rests on the other terms only)."""
        return [f"{name} {row.get(name)}" for name in CATEGORICAL if row.get(name) not in self.levels[name]]

    def describe(self) -> dict:
        return {"metric": self.metric, "cells": self.cells, "features": list(NUMERIC) + list(CATEGORICAL),
                "loo_median_error": self.median_error, "loo_max_error": self.max_error}


def _solve(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Ridge least squares with an unpenalised intercept (features and target centred)."""
    mx, my = x.mean(axis=0), y.mean()
    xc, yc = x - mx, y - my
    a = xc.T @ xc + RIDGE * np.eye(x.shape[1])
    coef = np.linalg.solve(a, xc.T @ yc)
    return coef, float(my - mx @ coef)


def fit(rows: list[dict], metric: str = "p50_ms") -> LatencyModel | None:
    """A model of `metric` from the measured rows (status ok, metric and features known), or None with fewer than
    MIN_CELLS of them."""
    usable = [r for r in rows if r.get("status") == "ok" and (r.get(metric) or 0) > 0 and _numeric(r) is not None]
    if len(usable) < MIN_CELLS:
        return None
    levels = {name: sorted({str(r.get(name)) for r in usable}) for name in CATEGORICAL}
    model = LatencyModel(metric, levels, np.zeros(0), 0.0, len(usable))
    x = np.stack([model.features({**r, **{n: str(r.get(n)) for n in CATEGORICAL}}) for r in usable])
    y = np.log([float(r[metric]) for r in usable])
    model.coef, model.intercept = _solve(x, y)
    errors = []
    for i in range(len(usable)):
        keep = np.arange(len(usable)) != i
        coef, intercept = _solve(x[keep], y[keep])
        predicted = math.exp(intercept + x[i] @ coef)
        errors.append(abs(predicted - math.exp(y[i])) / math.exp(y[i]))
    model.loo_errors = errors
    return model
