"""Wall-clock timing that is fair to GPUs: synchronise, warm up, take the median.

Used by the chapters to compare costs and by the scripts in ``benchmarks/``,
which always report a ratio against a reference measured in the same run.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Callable

import torch

from .device import get_device, synchronize
from .errors import check_positive, check_whole


def measure(fn: Callable[[], object], repeat: int = 5, warmup: int = 1,
            device: torch.device | str | None = None) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs, waiting for
    ``device`` (None: `get_device`'s choice) to finish each run."""
    repeat, warmup = check_positive("repeat", repeat), check_whole("warmup", warmup)
    device = get_device(device)
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def format_seconds(seconds: float) -> str:
    """Human-readable duration such as ``'12.3 ms'`` (the unit the notebooks' sanitizer recognises).
    ValueError for a negative, NaN or infinite number of seconds (map a missing time to a placeholder first)."""
    if not 0 <= seconds < math.inf:
        raise ValueError(f"seconds must be a finite number of at least 0; got {seconds!r}. Show a missing time "
                         "as a placeholder instead, e.g. format_seconds(t) if t == t else '-'.")
    if seconds >= 100:
        return f"{seconds:.0f} s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"
