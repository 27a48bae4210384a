"""Timing and memory helpers for ``calibclip bench``: interleaved repeats, percentiles, peak memory."""
from __future__ import annotations

import resource
import sys
import time
from typing import Any, Callable

import numpy as np


def seconds(fn: Callable[[], Any], sync: Callable[[], None] = lambda: None) -> float:
    """Wall-clock seconds of one call (``sync`` waits for queued GPU work before and after)."""
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def interleaved(runs: dict[str, Callable[[], Any]], repeats: int, sync: Callable[[], None] = lambda: None,
                warmup: bool = True) -> dict[str, list[float]]:
    """Seconds per call of every function, run in turn ``repeats`` times (after one warm-up call each).

    Interleaving (A B A B …) spreads a noisy neighbour's load over both sides of a ratio.
    """
    for fn in runs.values() if warmup else ():
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(seconds(fn, sync))
    return times


def latency(times: list[float]) -> dict[str, float]:
    """p50 / p95 in milliseconds."""
    ms = np.asarray(times) * 1000.0
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))}


def rate(items: int, times: list[float]) -> float:
    """Items per second at the median call time."""
    return items / float(np.median(times))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def cuda_sync(device: Any) -> Callable[[], None]:
    """A ``sync`` for ``seconds``: ``torch.cuda.synchronize`` on CUDA, nothing on CPU."""
    import torch

    if torch.device(device).type != "cuda":
        return lambda: None
    return torch.cuda.synchronize


__all__ = ["seconds", "interleaved", "latency", "rate", "peak_rss_mb", "cuda_sync"]
