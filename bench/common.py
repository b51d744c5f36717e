"""Helpers shared by the benchmarks (run them as scripts: `python bench/NAME.py`)."""

from __future__ import annotations

import time


def best_of(fn, *args, repeat: int = 3) -> float:
    """The fastest of ``repeat`` timed calls, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return min(times)
