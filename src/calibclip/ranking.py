"""Exact rankings of score rows by selection, shared by the rerank, the explanations and the metrics (numpy only).

One order everywhere: descending score, ties to the lower gallery index, i.e.
exactly what a stable ``argsort(-scores)`` gives. ``top_k`` returns the first
``k`` columns of that order without sorting the row: a linear-time selection
(``np.partition``) finds the k-th largest value, a tie straddling the cut keeps
its lowest indices, and only the ``k`` winners are sorted. On a 1M-item row
that is ~50× cheaper than the full sort (``docs/benchmarks.md``).

The scores are ranked in the precision they come in (float32 similarities,
float64 fused scores); callers that must ignore storage precision cast first.
"""
from __future__ import annotations

import numpy as np


def full_order(scores: np.ndarray) -> np.ndarray:
    """Per row, every index by descending score; ties to the lower index (stable sort)."""
    return np.argsort(-np.asarray(scores), axis=-1, kind="stable")


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` columns of ``full_order(scores)``, found by selection.

    Args:
        scores: (Q, G) scores (a 1-D row is treated as one query), without NaN.
        k: how many to keep; ``k >= G`` returns the full order.

    Returns:
        (Q, min(k, G)) int64 indices, best first, ties to the lower index.
    """
    scores = np.asarray(scores)
    squeeze = scores.ndim == 1
    scores = scores[None, :] if squeeze else scores
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    rows, size = scores.shape
    if k >= size:
        out = full_order(scores)
    else:
        kth = np.partition(scores, size - k, axis=1)[:, size - k:size - k + 1]  # each row's k-th largest
        keep = scores >= kth
        extra = keep.sum(axis=1) - k
        if (extra < 0).any():
            raise ValueError("scores contain NaN; check the embeddings that produced them")
        for row in np.flatnonzero(extra):  # a tie straddles the cut: keep its lowest indices
            tied = np.flatnonzero(scores[row] == kth[row, 0])
            keep[row, tied[len(tied) - extra[row]:]] = False
        picked = (np.flatnonzero(keep) % size).reshape(rows, k)  # ascending index within each row
        order = np.argsort(-np.take_along_axis(scores, picked, axis=1), axis=1, kind="stable")
        out = np.take_along_axis(picked, order, axis=1)
    return out[0] if squeeze else out


__all__ = ["full_order", "top_k"]
