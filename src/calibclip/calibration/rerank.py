"""CalibCLIP's second stage: re-score the first-stage top K, keep the rest in order (numpy only).

Following the CalibCLIP paper (Kang et al., ACM MM 2025, DOI 10.1145/3746027.3755765),
only the K best first-stage candidates are fused with the calibrated score;
everything else keeps its first-stage order underneath them. The result is a
score matrix (not a ranking), so every consumer ranks it the same way the
whole project does: descending, ties to the lower gallery index.
"""
from __future__ import annotations

import numpy as np

from calibclip.calibration.checks import require_int, require_number


def first_stage_order(scores: np.ndarray) -> np.ndarray:
    """Per row, gallery indices by descending score; ties go to the lower index (stable sort)."""
    return np.argsort(-scores, axis=1, kind="stable")


def check_rerank_args(k: int, lam: float) -> None:
    """Validate ``rerank_k`` and ``lam`` (raises ``ConfigError`` naming the bad one)."""
    require_int("rerank_k", k, 1, "the default is 100")
    require_number("lam", lam, 0.0, 1.0, "0 keeps the first stage, 1 ranks the top K by s_disc only")


def rerank(s_orig: np.ndarray, s_disc: np.ndarray, k: int, lam: float) -> np.ndarray:
    """Fuse the top ``k`` of ``s_orig`` with ``s_disc``; items below ``k`` stay below, in order.

    Args:
        s_orig: (Q, G) first-stage similarities.
        s_disc: (Q, G) calibrated similarities (only the top-K entries are read).
        k: how many first-stage candidates are re-scored (``k >= G`` re-scores all).
        lam: fusion weight λ in [0, 1]; final = (1-λ)·s_orig + λ·s_disc on the top K.

    Returns:
        (Q, G) float64 final scores. Items below K get ``s_orig`` shifted, when needed,
        to just under the lowest top-K final score, which keeps their first-stage order.
        λ = 0 returns ``s_orig`` unchanged, i.e. exactly the first-stage ranking.
    """
    s_orig = np.asarray(s_orig, dtype=np.float64)
    s_disc = np.asarray(s_disc, dtype=np.float64)
    if s_orig.ndim != 2 or s_orig.shape != s_disc.shape:
        raise ValueError(f"rerank needs two (Q, G) matrices of one shape, got {s_orig.shape} and {s_disc.shape}")
    check_rerank_args(k, lam)
    final = s_orig.copy()
    if lam == 0 or s_orig.size == 0:
        return final
    rows = np.arange(s_orig.shape[0])[:, None]
    order = first_stage_order(s_orig)
    top, below = order[:, :k], order[:, k:]
    final[rows, top] = (1.0 - lam) * s_orig[rows, top] + lam * s_disc[rows, top]
    if below.shape[1] == 0:
        return final
    min_top = final[rows, top].min(axis=1)
    max_below = s_orig[rows, below].max(axis=1)
    margin = 1e-6 * np.maximum(1.0, np.abs(min_top))
    shift = np.where(max_below >= min_top, max_below - min_top + margin, 0.0)
    final[rows, below] = s_orig[rows, below] - shift[:, None]
    return final


__all__ = ["rerank", "first_stage_order", "check_rerank_args"]
