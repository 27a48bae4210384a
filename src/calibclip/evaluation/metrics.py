"""Retrieval metrics over a (queries, gallery) score matrix; numpy only, no torch.

Shared rules (DESIGN.md "Metrics", README "Metrics and reports"): scores are ranked in
float32 (float64 ones, such as the calibrated rerank's, in float64), ties go to the lower
gallery index, results are percentages, and a query with nothing relevant in the gallery
is skipped and counted, never scored as 0. Bad inputs raise ``ValueError`` with one clear
line: this module imports nothing of calibclip but the numpy-only ``calibclip.ranking``,
and the CLI turns ``ValueError`` into one line too.

Example:
    >>> import numpy as np
    >>> sims = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.8]])
    >>> person_retrieval_metrics(sims, [7, 8], [7, 9, 8], ks=(1,))["rank1"]
    50.0
"""
from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence

import numpy as np

from calibclip.ranking import full_order, top_k

HR_GAIN = 1.0
MR_GAIN = 0.5
DEFAULT_KS = (1, 5, 10)


def _as_matrix(sims: np.ndarray) -> np.ndarray:
    scores = np.asarray(sims)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"similarities must be a (queries, gallery) matrix with a non-empty gallery, "
                         f"got shape {scores.shape}; pass one row of scores per query")
    if not (np.issubdtype(scores.dtype, np.floating) or np.issubdtype(scores.dtype, np.integer)):
        raise ValueError(f"similarities must be real numbers, got dtype {scores.dtype}")
    return scores


def _ranking_dtype(scores: np.ndarray) -> type:
    """float64 scores rank in float64 (the rerank's exact order below K needs it), all others in float32."""
    return np.float64 if scores.dtype == np.float64 else np.float32


def _score_chunks(scores: np.ndarray, chunk_size: int) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield row slices and their scores in the ranking precision, rejecting NaN (it would silently rank last)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    dtype = _ranking_dtype(scores)
    for start in range(0, len(scores), chunk_size):
        rows = slice(start, start + chunk_size)
        chunk = scores[rows].astype(dtype, copy=False)
        nan_rows = np.flatnonzero(np.isnan(chunk).any(axis=1))
        if nan_rows.size:
            raise ValueError(f"similarity row {start + int(nan_rows[0])} contains NaN; "
                             "check the model weights and inputs that produced it")
        yield rows, chunk


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    if not ks or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
        raise ValueError(f"cut-offs ks must be positive integers, got {tuple(ks)}")
    return tuple(sorted({int(k) for k in ks}))


def _rank_rows(scores: np.ndarray, k: int | None) -> np.ndarray:
    """Descending stable ranking of rows; with ``k``, only the first ``k`` columns (by selection)."""
    return full_order(scores) if k is None else top_k(scores, k)


def rank_gallery(sims: np.ndarray, k: int | None = None) -> np.ndarray:
    """Gallery indices of each row, best first, ranked in float32 with ties to the lower index.

    Args:
        sims: (queries, gallery) similarities; any real dtype, cast to float32 so that
            rankings do not depend on the precision the scores were stored in (float16, ints),
            except float64, ranked as is: fused scores computed in float64 keep their exact order.
        k: return only the first ``k`` columns (exactly those of the full ranking).

    Returns:
        (queries, min(k, gallery)) int64 indices.
    """
    scores = _as_matrix(sims)
    if k is not None and k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    parts = [_rank_rows(chunk, k) for _, chunk in _score_chunks(scores, 512)]
    width = min(k or scores.shape[1], scores.shape[1])
    return np.concatenate(parts) if parts else np.zeros((0, width), dtype=np.int64)


def _as_labels(labels: Sequence, expected: int, name: str, axis: str) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1 or len(array) != expected:
        raise ValueError(f"{name} has shape {array.shape} but the score matrix has {expected} {axis}; "
                         "pass one id per row/column, in the same order")
    return array


def _ap_inp_first(matches: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of a ranked boolean match matrix (every row has a match): AP, INP, rank of the first match.

    Works on the match positions only, so memory grows with the number of matches, not the gallery.
    """
    rows, cols = np.nonzero(matches)
    ranks = cols + 1
    counts = np.bincount(rows, minlength=len(matches))
    starts = np.cumsum(counts) - counts
    nth = np.arange(len(rows)) - starts[rows] + 1
    average_precision = np.bincount(rows, weights=nth / ranks, minlength=len(matches)) / counts
    inverse_negative_penalty = counts / ranks[starts + counts - 1]
    return average_precision, inverse_negative_penalty, ranks[starts]


def _require_scored(scored: int, skipped: int, what: str) -> None:
    if scored == 0:
        raise ValueError(f"no query has {what} in the gallery ({skipped} skipped); "
                         "check that query and gallery ids come from the same split")


class PersonRetrievalTotals:
    """Running sums behind ``person_retrieval_metrics``, fed one block of queries at a time.

    Lets an evaluation of any size stream its score matrix (memory: one block).

    Example:
        >>> totals = PersonRetrievalTotals([7, 9, 8], ks=(1,))
        >>> totals.add(np.array([[0.9, 0.1, 0.5]]), [7]); totals.add(np.array([[0.2, 0.8, 0.8]]), [8])
        >>> totals.result()["rank1"]
        50.0
    """

    def __init__(self, gallery_pids: Sequence, ks: Sequence[int] = DEFAULT_KS) -> None:
        self.gallery_pids = np.asarray(gallery_pids)
        if self.gallery_pids.ndim != 1:
            raise ValueError(f"gallery_pids must be one id per gallery item, got shape {self.gallery_pids.shape}")
        self.ks = _check_ks(ks)
        self.hits, self.ap_sum, self.inp_sum, self.scored, self.skipped = np.zeros(len(self.ks)), 0.0, 0.0, 0, 0

    def add(self, sims: np.ndarray, query_pids: Sequence, chunk_size: int = 512) -> None:
        """Add a (queries, gallery) block and the person id of each of its queries."""
        scores = _as_matrix(sims)
        query_pids = _as_labels(query_pids, len(scores), "query_pids", "queries (rows)")
        _as_labels(self.gallery_pids, scores.shape[1], "gallery_pids", "gallery items (columns)")
        for rows, chunk in _score_chunks(scores, chunk_size):
            matches = self.gallery_pids[_rank_rows(chunk, None)] == query_pids[rows, None]
            found = matches.any(axis=1)
            self.skipped += int((~found).sum())
            average_precision, inverse_negative_penalty, first_rank = _ap_inp_first(matches[found])
            self.hits += [(first_rank <= k).sum() for k in self.ks]
            self.ap_sum += float(average_precision.sum())
            self.inp_sum += float(inverse_negative_penalty.sum())
            self.scored += int(found.sum())

    def result(self) -> dict:
        """The metrics of every query added so far (see ``person_retrieval_metrics``)."""
        _require_scored(self.scored, self.skipped, "a matching id")
        result = {f"rank{k}": 100.0 * float(h) / self.scored for k, h in zip(self.ks, self.hits)}
        result.update(mAP=100.0 * self.ap_sum / self.scored, mINP=100.0 * self.inp_sum / self.scored,
                      num_queries=self.scored, skipped=self.skipped)
        return result


def person_retrieval_metrics(sims: np.ndarray, query_pids: Sequence, gallery_pids: Sequence,
                             ks: Sequence[int] = DEFAULT_KS, chunk_size: int = 512) -> dict:
    """Text-based person retrieval metrics, IRRA protocol (Jiang & Ye, CVPR 2023, ``utils/metrics.py``).

    Every query caption is ranked against every gallery image; a match is the same person id.

    Returns:
        ``rank{k}`` (hit rate: any match in the top k), ``mAP`` (AP over the full ranking,
        normalised by all matches), ``mINP`` (|matches| / rank of the last match), in percent;
        ``num_queries`` scored and ``skipped`` (queries whose id is not in the gallery).
    """
    scores = _as_matrix(sims)
    _as_labels(gallery_pids, scores.shape[1], "gallery_pids", "gallery items (columns)")
    totals = PersonRetrievalTotals(gallery_pids, ks)
    totals.add(scores, query_pids, chunk_size)
    return totals.result()


def _gains_at(entries: Sequence[Mapping[int, float]], top: np.ndarray) -> np.ndarray:
    """Gain of each ranked item, looked up in the per-query ``{gallery_index: gain}`` maps."""
    return np.array([[entry.get(int(i), 0.0) for i in row] for entry, row in zip(entries, top)],
                    dtype=np.float64).reshape(top.shape)


def _check_entries(entries: Sequence[Mapping[int, float]], n_queries: int, width: int, name: str) -> None:
    if len(entries) != n_queries:
        raise ValueError(f"{name} has {len(entries)} entries but the score matrix has {n_queries} queries")
    for query, entry in enumerate(entries):
        for index, value in entry.items():
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < width:
                raise ValueError(f"{name}[{query}] names gallery index {index!r}, outside 0..{width - 1}")
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name}[{query}] gives gallery index {index} the gain {value!r}; "
                                 "gains must be finite and non-negative")


def recall_at_k(sims: np.ndarray, relevant: Sequence[Collection[int]], ks: Sequence[int] = DEFAULT_KS,
                chunk_size: int = 512) -> dict:
    """Multi-positive Recall@K as the field reports it: the share of queries with any relevant item in the top K.

    Args:
        relevant: per query, the gallery indices that count as correct.

    Returns:
        ``R@{k}`` in percent, ``num_queries`` scored and ``skipped`` (queries with no relevant item).
    """
    scores = _as_matrix(sims)
    ks = _check_ks(ks)
    entries = [dict.fromkeys(items, 1.0) for items in relevant]
    _check_entries(entries, len(scores), scores.shape[1], "relevant")
    hits, scored, skipped = np.zeros(len(ks)), 0, 0
    for rows, chunk in _score_chunks(scores, chunk_size):
        found = np.array([bool(entry) for entry in entries[rows]], dtype=bool)
        kept = [entry for entry in entries[rows] if entry]
        is_hit = _gains_at(kept, _rank_rows(chunk[found], ks[-1])) > 0
        hits += [is_hit[:, :k].any(axis=1).sum() for k in ks]
        scored, skipped = scored + len(kept), skipped + len(found) - len(kept)
    _require_scored(scored, skipped, "a relevant item")
    result = {f"R@{k}": 100.0 * float(h) / scored for k, h in zip(ks, hits)}
    result.update(num_queries=scored, skipped=skipped)
    return result


def gains_from_grades(hr_ids: Collection, mr_ids: Collection, id_to_index: Mapping) -> dict[int, float]:
    """TIGR grades to ``{gallery_index: gain}``: HR=1, MR=0.5 (an id in both counts as HR).

    Raises ``ValueError`` for an id missing from the gallery, since dropping it would
    quietly shrink the ideal ranking and inflate every graded score.
    """
    gains: dict[int, float] = {}
    for ids, gain in ((mr_ids, MR_GAIN), (hr_ids, HR_GAIN)):
        for image_id in ids:
            if image_id not in id_to_index:
                raise ValueError(f"graded image id {image_id!r} is not in the gallery; "
                                 "rebuild the gallery from the same dataset or drop the query")
            gains[int(id_to_index[image_id])] = gain
    return gains


def _graded_chunk(chunk: np.ndarray, entries: Sequence[Mapping[int, float]],
                  ks: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Per-query graded metrics (fractions) for queries that all have a positive gain."""
    top = _gains_at(entries, _rank_rows(chunk, ks[-1]))
    ideal = np.zeros_like(top)
    for row, entry in enumerate(entries):
        best = sorted(entry.values(), reverse=True)[:top.shape[1]]
        ideal[row, :len(best)] = best
    positions = np.arange(1, top.shape[1] + 1)
    weights = {"GRP": np.ones(len(positions)), "NIPR": 1.0 / positions, "nDCG": 1.0 / np.log2(positions + 1)}
    num_hr = np.array([sum(g >= HR_GAIN for g in entry.values()) for entry in entries], dtype=np.float64)
    has_hr = num_hr > 0
    per_query = {}
    for name, weight in weights.items():
        got, best = np.cumsum(top * weight, axis=1), np.cumsum(ideal * weight, axis=1)
        for k in ks:
            last = min(k, len(positions)) - 1
            per_query[f"{name}@{k}"] = got[:, last] / best[:, last]
    for k in ks:
        top_hr = (top[has_hr, :k] >= HR_GAIN).sum(axis=1)
        per_query[f"HR-Hit@{k}"] = top_hr > 0
        per_query[f"HR-Recall@{k}"] = top_hr / num_hr[has_hr]
    return per_query


def graded_metrics(sims: np.ndarray, gains: Sequence[Mapping[int, float]], ks: Sequence[int] = DEFAULT_KS,
                   chunk_size: int = 512) -> dict:
    """Graded-relevance metrics for TIGR-100k (CsdCLIP). GRP and NIPR formulas are ours.

    The paper names GRP and NIPR but does not publish formulas. With g_i the gain at rank i
    and g*_i the ideal (gains sorted descending): GRP@k = Σ g_i / Σ g*_i, NIPR@k = Σ g_i/i /
    Σ g*_i/i, nDCG@k with linear gain and log2(i+1) discount, all over i ≤ k.

    Args:
        gains: per query ``{gallery_index: gain}`` (see ``gains_from_grades``); absent = 0.

    Returns:
        ``GRP@k NIPR@k nDCG@k HR-Hit@k HR-Recall@k`` in percent; ``num_queries`` scored,
        ``num_queries_hr`` (the HR metrics average over queries with at least one HR only,
        and are ``None`` when no query has one) and ``skipped`` (queries with no positive gain).
    """
    scores = _as_matrix(sims)
    ks = _check_ks(ks)
    _check_entries(gains, len(scores), scores.shape[1], "gains")
    names = [f"{m}@{k}" for m in ("GRP", "NIPR", "nDCG", "HR-Hit", "HR-Recall") for k in ks]
    totals, scored, scored_hr, skipped = dict.fromkeys(names, 0.0), 0, 0, 0
    for rows, chunk in _score_chunks(scores, chunk_size):
        block = gains[rows]
        found = np.array([max(entry.values(), default=0.0) > 0 for entry in block], dtype=bool)
        kept = [entry for entry, ok in zip(block, found) if ok]
        for name, values in _graded_chunk(chunk[found], kept, ks).items():
            totals[name] += float(values.sum())
        scored, skipped = scored + len(kept), skipped + len(found) - len(kept)
        scored_hr += sum(any(g >= HR_GAIN for g in entry.values()) for entry in kept)
    _require_scored(scored, skipped, "a positive gain")
    result: dict = {}
    for name, total in totals.items():
        denominator = scored_hr if name.startswith("HR-") else scored
        result[name] = 100.0 * total / denominator if denominator else None
    result.update(num_queries=scored, num_queries_hr=scored_hr, skipped=skipped)
    return result


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values``, tied values sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation with average ranks for ties (0.0 when either side is constant or empty)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"spearman needs two sequences of one length, got {x.shape} and {y.shape}")
    if len(x) < 2:
        return 0.0
    rx, ry = _average_ranks(x) - (len(x) + 1) / 2, _average_ranks(y) - (len(y) + 1) / 2
    denominator = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denominator) if denominator > 0 else 0.0
