"""Metrics against hand-computed values and a naive per-query reference written here."""
import math
import subprocess
import sys

import numpy as np
import pytest

import calibclip.evaluation as evaluation
from calibclip.evaluation import metrics
from calibclip.evaluation.metrics import (gains_from_grades, graded_metrics, person_retrieval_metrics, rank_gallery,
                                          recall_at_k)


def _naive_order(row):
    row = np.asarray(row, dtype=np.float32)
    return sorted(range(len(row)), key=lambda j: (-float(row[j]), j))


def _naive_person(sims, query_pids, gallery_pids, ks):
    per_query = []
    for row, pid in zip(sims, query_pids):
        ranks = [i + 1 for i, j in enumerate(_naive_order(row)) if gallery_pids[j] == pid]
        if ranks:
            per_query.append([ranks[0] <= k for k in ks]
                             + [np.mean([(n + 1) / r for n, r in enumerate(ranks)]), len(ranks) / ranks[-1]])
    means = 100 * np.mean(per_query, axis=0)
    return {**{f"rank{k}": means[i] for i, k in enumerate(ks)}, "mAP": means[-2], "mINP": means[-1],
            "num_queries": len(per_query), "skipped": len(sims) - len(per_query)}


def _naive_graded(sims, gains, ks):
    per_query, per_query_hr = [], []
    for row, gain in zip(sims, gains):
        if not any(v > 0 for v in gain.values()):
            continue
        got = [gain.get(j, 0.0) for j in _naive_order(row)]
        ideal = sorted(gain.values(), reverse=True) + [0.0] * len(row)
        values = []
        for weight in (lambda i: 1.0, lambda i: 1.0 / i, lambda i: 1.0 / math.log2(i + 1)):
            for k in ks:
                top = range(1, min(k, len(row)) + 1)
                values.append(sum(got[i - 1] * weight(i) for i in top) / sum(ideal[i - 1] * weight(i) for i in top))
        per_query.append(values)
        n_hr = sum(v >= 1.0 for v in gain.values())
        if n_hr:
            per_query_hr.append([any(g >= 1.0 for g in got[:k]) for k in ks]
                                + [sum(g >= 1.0 for g in got[:k]) / n_hr for k in ks])
    names = [f"{m}@{k}" for m in ("GRP", "NIPR", "nDCG", "HR-Hit", "HR-Recall") for k in ks]
    return dict(zip(names, [*100 * np.mean(per_query, axis=0), *100 * np.mean(per_query_hr, axis=0)]))


def test_rank_gallery_breaks_ties_by_lower_index():
    sims = np.array([[0.5, 0.7, 0.5, 0.7], [0.0, 0.0, 0.0, 0.0]])
    assert rank_gallery(sims).tolist() == [[1, 3, 0, 2], [0, 1, 2, 3]]
    assert rank_gallery(sims, k=1).tolist() == [[1], [0]]
    assert rank_gallery(sims, k=3).tolist() == [[1, 3, 0], [0, 1, 2]]
    assert rank_gallery(sims, k=9).tolist() == [[1, 3, 0, 2], [0, 1, 2, 3]]


def test_rank_gallery_top_k_equals_full_stable_sort_with_many_ties():
    scores = np.random.default_rng(0).integers(0, 4, size=(50, 31)).astype(np.float32)
    full = rank_gallery(scores)
    assert full.tolist() == [_naive_order(row) for row in scores]
    for k in (1, 2, 7, 30, 31):
        assert np.array_equal(rank_gallery(scores, k=k), full[:, :k])


def test_rank_gallery_ranks_fp16_in_float32_and_fp64_as_is():
    fp32 = np.array([[0.5, 0.5001]], dtype=np.float32)
    assert rank_gallery(fp32).tolist() == [[1, 0]]
    assert rank_gallery(fp32.astype(np.float16)).tolist() == [[0, 1]]  # both round to 0.5 in fp16
    assert rank_gallery(fp32.astype(np.float64)).tolist() == [[1, 0]]  # float32 values are exact in float64
    # fused float64 scores (the calibrated rerank) keep their exact order: no tie created by a float32 cast
    assert rank_gallery(np.array([[0.3, 0.3 + 1e-12]])).tolist() == [[1, 0]]
    assert rank_gallery(np.array([[0.3, 0.3 + 1e-12]]), k=1).tolist() == [[1]]


def test_person_retrieval_hand_computed():
    gallery = [1, 2, 1, 3, 2]
    sims = np.array([
        [0.1, 0.9, 0.8, 0.3, 0.2],  # pid 1: matches at ranks 2 and 5 -> AP (1/2 + 2/5) / 2 = 0.45, INP 2/5
        [0.5, 0.6, 0.5, 0.5, 0.6],  # pid 2: ties -> order 1,4,0,2,3; matches at ranks 1, 2 -> AP 1, INP 1
        [0.9, 0.8, 0.7, 0.6, 0.5],  # pid 3: one positive at rank 4 -> AP 1/4, INP 1/4
        [0.9, 0.8, 0.7, 0.6, 0.5],  # pid 9: not in the gallery -> skipped
    ])
    result = person_retrieval_metrics(sims, [1, 2, 3, 9], gallery, ks=(5, 1, 2))
    assert list(result) == ["rank1", "rank2", "rank5", "mAP", "mINP", "num_queries", "skipped"]
    assert result["rank1"] == pytest.approx(100 / 3)
    assert result["rank2"] == pytest.approx(200 / 3)
    assert result["rank5"] == 100.0
    assert result["mAP"] == pytest.approx(100 * (0.45 + 1 + 0.25) / 3)
    assert result["mINP"] == pytest.approx(100 * (0.4 + 1 + 0.25) / 3)
    assert (result["num_queries"], result["skipped"]) == (3, 1)
    assert isinstance(result["mAP"], float) and isinstance(result["num_queries"], int)


@pytest.mark.parametrize("chunk_size", [1, 7, 17, 512])
def test_person_retrieval_chunked_matches_naive_reference(chunk_size):
    rng = np.random.default_rng(1)
    sims = np.round(rng.standard_normal((61, 29)), 1)  # rounding makes ties common
    query_pids, gallery_pids = rng.integers(0, 12, 61), rng.integers(0, 10, 29)
    expected = _naive_person(sims, query_pids, gallery_pids, (1, 5, 10))
    result = person_retrieval_metrics(sims, query_pids, gallery_pids, chunk_size=chunk_size)
    assert result["skipped"] > 0 and result == pytest.approx(expected)


def test_person_retrieval_accepts_string_ids():
    result = person_retrieval_metrics([[0.2, 0.9], [0.9, 0.2]], ["a", "b"], ["a", "b"], ks=(1,))
    assert result["rank1"] == 0.0 and result["mAP"] == 50.0


def test_recall_at_k_hand_computed():
    sims = np.array([[0.1, 0.9, 0.8], [0.3, 0.2, 0.1], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]])
    result = recall_at_k(sims, [{2}, {0, 1}, set(), {2}], ks=(1, 2))
    # q0: item 2 at rank 2; q1: item 0 at rank 1; q2 skipped; q3: all tied, item 2 at rank 3
    assert result == {"R@1": pytest.approx(100 / 3), "R@2": pytest.approx(200 / 3), "num_queries": 3, "skipped": 1}


@pytest.mark.parametrize("chunk_size", [7, 17])
def test_recall_at_k_chunked_matches_naive_reference(chunk_size):
    rng = np.random.default_rng(2)
    sims = np.round(rng.standard_normal((45, 26)), 1).astype(np.float16)
    relevant = [set(rng.choice(26, size=rng.integers(0, 4), replace=False).tolist()) for _ in range(45)]
    ranked = [_naive_order(row) for row in sims]
    valid = [(order, rel) for order, rel in zip(ranked, relevant) if rel]
    expected = {f"R@{k}": 100 * np.mean([bool(rel & set(order[:k])) for order, rel in valid]) for k in (1, 5, 10)}
    result = recall_at_k(sims, relevant, chunk_size=chunk_size)
    assert result == {**{k: pytest.approx(v) for k, v in expected.items()},
                      "num_queries": len(valid), "skipped": 45 - len(valid)}


def test_graded_metrics_hand_computed_five_items():
    sims = np.array([[0.9, 0.8, 0.7, 0.6, 0.5]])  # ranking 0,1,2,3,4
    gains = [{0: 0.5, 1: 0.0, 2: 1.0, 3: 0.5, 4: 1.0}]  # ranked gains 0.5,0,1,0.5,1; ideal 1,1,0.5,0.5,0
    result = graded_metrics(sims, gains, ks=(1, 3, 5))
    expected = {
        "GRP@1": 50.0, "GRP@3": 100 * 1.5 / 2.5, "GRP@5": 100.0,
        "NIPR@1": 50.0, "NIPR@3": 100 * (0.5 + 1 / 3) / (1 + 1 / 2 + 0.5 / 3), "NIPR@5": 100 * 139 / 215,
        "nDCG@1": 50.0, "nDCG@3": 100 * 1.0 / (1 + 1 / math.log2(3) + 0.5 / 2),
        "nDCG@5": 100 * (0.5 + 1 / 2 + 0.5 / math.log2(5) + 1 / math.log2(6))
        / (1 + 1 / math.log2(3) + 0.5 / 2 + 0.5 / math.log2(5)),
        "HR-Hit@1": 0.0, "HR-Hit@3": 100.0, "HR-Hit@5": 100.0,
        "HR-Recall@1": 0.0, "HR-Recall@3": 50.0, "HR-Recall@5": 100.0,
        "num_queries": 1, "num_queries_hr": 1, "skipped": 0,
    }
    assert list(result) == list(expected)
    assert result == pytest.approx(expected)
    assert result["NIPR@3"] == pytest.approx(50.0)


def test_graded_metrics_skip_rules():
    sims = np.tile([0.9, 0.8, 0.7, 0.6, 0.5], (4, 1))
    gains = [{0: 0.5, 2: 1.0, 3: 0.5, 4: 1.0}, {1: 0.5}, {}, {3: 0.0}]
    result = graded_metrics(sims, gains, ks=(1, 3))
    # query 1 (MR only, at rank 2) counts for GRP/NIPR/nDCG but not for the HR metrics;
    # queries 2 and 3 have no positive gain and are skipped.
    assert result["GRP@1"] == pytest.approx((50 + 0) / 2)
    assert result["GRP@3"] == pytest.approx((60 + 100) / 2)
    assert result["NIPR@3"] == pytest.approx((50 + 50) / 2)
    assert result["HR-Hit@3"] == 100.0 and result["HR-Recall@3"] == 50.0
    assert (result["num_queries"], result["num_queries_hr"], result["skipped"]) == (2, 1, 2)


def test_graded_metrics_without_any_hr_reports_none_for_hr_metrics():
    result = graded_metrics([[0.1, 0.9]], [{0: 0.5}], ks=(1,))
    assert result["GRP@1"] == 0.0 and result["NIPR@1"] == 0.0
    assert result["HR-Hit@1"] is None and result["HR-Recall@1"] is None and result["num_queries_hr"] == 0


@pytest.mark.parametrize("chunk_size", [7, 17])
def test_graded_metrics_chunked_matches_naive_reference(chunk_size):
    rng = np.random.default_rng(3)
    sims = np.round(rng.standard_normal((40, 12)), 1)
    gains = [{int(j): float(rng.choice([0.0, 0.5, 1.0])) for j in rng.choice(12, size=rng.integers(0, 5),
                                                                                replace=False)} for _ in range(40)]
    result = graded_metrics(sims, gains, ks=(1, 5, 20), chunk_size=chunk_size)
    assert result["skipped"] > 0
    assert {k: v for k, v in result.items() if "@" in k} == pytest.approx(_naive_graded(sims, gains, (1, 5, 20)))


def test_gains_from_grades():
    index = {"a": 0, "b": 1, "c": 2}
    assert gains_from_grades(["a", "c"], ["c", "b"], index) == {0: 1.0, 1: 0.5, 2: 1.0}
    with pytest.raises(ValueError, match="'zz' is not in the gallery"):
        gains_from_grades(["zz"], [], index)


@pytest.mark.parametrize("call, message", [
    (lambda: rank_gallery([0.1, 0.2]), "must be a \\(queries, gallery\\) matrix"),
    (lambda: rank_gallery(np.zeros((2, 0))), "non-empty gallery"),
    (lambda: rank_gallery([["a", "b"]]), "real numbers"),
    (lambda: rank_gallery([[0.1, 0.2]], k=0), "k must be at least 1"),
    (lambda: rank_gallery([[0.1, 0.2], [0.3, np.nan]]), "row 1 contains NaN"),
    (lambda: person_retrieval_metrics([[0.1, 0.2]], [1, 2], [1, 2]), "query_pids has shape \\(2,\\)"),
    (lambda: person_retrieval_metrics([[0.1, 0.2]], [1], [1]), "gallery_pids has shape \\(1,\\)"),
    (lambda: person_retrieval_metrics([[0.1, 0.2]], [5], [1, 2]), "matching id in the gallery .1 skipped"),
    (lambda: person_retrieval_metrics([[0.1, 0.2]], [1], [1, 2], ks=(0,)), "positive integers"),
    (lambda: person_retrieval_metrics([[0.1, 0.2]], [1], [1, 2], chunk_size=0), "chunk_size"),
    (lambda: recall_at_k([[0.1, 0.2]], [{2}]), "relevant\\[0\\] names gallery index 2, outside 0..1"),
    (lambda: recall_at_k([[0.1, 0.2]], [{0}, {1}]), "2 entries but the score matrix has 1"),
    (lambda: recall_at_k([[0.1, 0.2]], [set()]), "no query has a relevant item"),
    (lambda: graded_metrics([[0.1, 0.2]], [{0: -1.0}]), "gains must be finite and non-negative"),
])
def test_bad_input_raises_one_clear_line(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_package_exports_metrics_lazily_without_torch_or_pil():
    assert evaluation.recall_at_k is metrics.recall_at_k
    with pytest.raises(AttributeError):
        evaluation.no_such_name  # noqa: B018
    code = ("import sys, calibclip.evaluation as e; e.graded_metrics; "
            "print(','.join(m for m in ('torch', 'PIL') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == ""
