"""Helpers shared by the benchmarks: timing and reporting."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The fastest of ``runs`` timings of ``work``, in seconds.

    What ``work`` returns is freed after the clock stops, as a caller keeps what it
    asked for; freeing thousands of documents would otherwise count against
    whichever measurement returns them.
    """
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        timings.append(time.perf_counter() - started)
        del result
    return min(timings)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 of latency samples, in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def report(name: str, value: float, unit: str, note: str = "") -> None:
    """Print one result line."""
    print(f"{name:<52} {value:>12.2f} {unit:<8} {note}", flush=True)
