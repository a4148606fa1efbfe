"""A tiny benchmark harness: medians and ratios against a baseline measured in the same run.

Each ``benchmarks/bench_*.py`` module exposes ``run(quick: bool) -> list[Row]``. ``run.py`` finds
them, runs them, and prints one table. These machines are noisy: we report medians of several
repeats and the ratio to a baseline timed alongside, never a bare number.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    """One measured case and its baseline."""

    benchmark: str
    case: str
    median_s: float
    baseline: str
    baseline_s: float
    #: Human-readable goal, e.g. "<= 1.25x" or ">= 10x faster".
    goal: str = ""
    #: Whether the goal was met; None when there is no goal to check.
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.median_s / self.baseline_s if self.baseline_s else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def median_time(fn: Callable[[], Any], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs, after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_medians(
    fns: dict[str, Callable[[], Any]], repeat: int = 5, warmup: int = 1
) -> dict[str, float]:
    """Median time of each function, timed in interleaved rounds so drift hits all alike.

    Every other round runs the functions in reverse order, so none always runs first (right
    after the previous round's last one, whose garbage or caches it would inherit).
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(repeat):
        order = list(fns.items())
        for name, fn in order if round_ % 2 == 0 else reversed(order):
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}
