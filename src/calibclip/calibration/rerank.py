"""CalibCLIP's second stage: re-score the first-stage top K, keep the rest in order (numpy only).

Following the CalibCLIP paper (Kang et al., ACM MM 2025, DOI 10.1145/3746027.3755765),
only the K best first-stage candidates are fused with the calibrated score;
everything else keeps its first-stage order underneath them. The result is a
score matrix (not a ranking), so every consumer ranks it the same way the
whole project does: descending, ties to the lower gallery index.

Cost: the top K are found by selection (``calibclip.ranking.top_k``), never by
sorting the gallery, and ``s_disc`` is only needed on those K columns
(``fuse_top_k``), so a caller computes K products per query instead of G.
Everything is float64, which keeps the first-stage order below K exact (see
``fuse_top_k``); consumers rank float64 scores in float64.
"""
from __future__ import annotations

import numpy as np

from calibclip.calibration.checks import require_int, require_number
from calibclip.ranking import full_order, top_k


def first_stage_order(scores: np.ndarray) -> np.ndarray:
    """Per row, gallery indices by descending score; ties go to the lower index (stable sort)."""
    return full_order(scores)


def check_rerank_args(k: int, lam: float) -> None:
    """Validate ``rerank_k`` and ``lam`` (raises ``ConfigError`` naming the bad one)."""
    require_int("rerank_k", k, 1, "the default is 100")
    require_number("lam", lam, 0.0, 1.0, "0 keeps the first stage, 1 ranks the top K by s_disc only")


def rerank_candidates(s_first: np.ndarray, k: int) -> np.ndarray:
    """(Q, min(k+1, G)) indices: the top ``k`` of each row in first-stage order, then the best item below them."""
    return top_k(s_first, k + 1)


def fuse_top_k(s_first: np.ndarray, candidates: np.ndarray, s_disc_top: np.ndarray, k: int, lam: float) -> np.ndarray:
    """Final (Q, G) float64 scores from the first stage and ``s_disc`` on the top ``k`` only.

    Args:
        s_first: (Q, G) first-stage similarities (any float dtype).
        candidates: ``rerank_candidates(s_first, k)``.
        s_disc_top: (Q, ≥min(k, G)) calibrated similarities of ``candidates[:, :k]``, same order.
        k, lam: as in ``rerank``.

    Items below K get ``s_first − shift`` in float64, one shift per row (zero when
    they already lie under every fused score), which puts them just under the
    lowest fused score. Subtracting one constant is monotone, and in float64 it
    cannot merge two distinct float32 scores unless both lie within 2^-27 of 0
    (far below float32's own error on a similarity), so their first-stage order,
    ties included, is exactly kept.
    """
    final = np.array(s_first, dtype=np.float64)
    top, below = candidates[:, :k], candidates[:, k:k + 1]
    rows = np.arange(final.shape[0])[:, None]
    fused = (1.0 - lam) * final[rows, top] + lam * np.asarray(s_disc_top, dtype=np.float64)[:, :top.shape[1]]
    if below.shape[1]:
        min_top = fused.min(axis=1)
        max_below = final[rows[:, 0], below[:, 0]]
        margin = 1e-6 * np.maximum(1.0, np.abs(min_top))
        shift = np.where(max_below >= min_top, max_below - min_top + margin, 0.0)
        final -= shift[:, None]
    final[rows, top] = fused
    return final


def rerank(s_orig: np.ndarray, s_disc: np.ndarray, k: int, lam: float) -> np.ndarray:
    """Fuse the top ``k`` of ``s_orig`` with ``s_disc``; items below ``k`` stay below, in order.

    Args:
        s_orig: (Q, G) first-stage similarities.
        s_disc: (Q, G) calibrated similarities (only the top-K entries are read).
        k: how many first-stage candidates are re-scored (``k >= G`` re-scores all).
        lam: fusion weight λ in [0, 1]; final = (1-λ)·s_orig + λ·s_disc on the top K.

    Returns:
        (Q, G) float64 final scores. Items below K get ``s_orig`` shifted, when needed,
        to just under the lowest top-K final score, which keeps their exact first-stage
        order (``fuse_top_k``). λ = 0 returns ``s_orig`` unchanged, i.e. exactly the first-stage ranking.
    """
    s_orig = np.asarray(s_orig)
    s_disc = np.asarray(s_disc)
    if s_orig.ndim != 2 or s_orig.shape != s_disc.shape:
        raise ValueError(f"rerank needs two (Q, G) matrices of one shape, got {s_orig.shape} and {s_disc.shape}")
    check_rerank_args(k, lam)
    if lam == 0 or s_orig.size == 0:
        return s_orig.astype(np.float64)
    candidates = rerank_candidates(s_orig, k)
    top = candidates[:, :k]
    return fuse_top_k(s_orig, candidates, np.take_along_axis(s_disc, top, axis=1), k, lam)


__all__ = ["rerank", "rerank_candidates", "fuse_top_k", "first_stage_order", "check_rerank_args"]
