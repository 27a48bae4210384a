import math

import numpy as np
import pytest

from calibclip.composite.scoring import (ClauseLayout, combine_and, composite_scores, not_penalty, soft_min,
                                         zscore)
from calibclip.config import CompositeConfig
from calibclip.errors import ConfigError


def _naive_z(row):
    mean = sum(row) / len(row)
    std = math.sqrt(sum((x - mean) ** 2 for x in row) / len(row))
    return [(x - mean) / max(std, 1e-6) for x in row]


def _naive_composite(baseline, query, clauses, owner, is_not, cfg):
    """Per-query, per-candidate reference written with plain Python loops."""
    out = []
    for q in range(len(baseline)):
        ands = [_naive_z(list(clauses[c])) for c in range(len(clauses)) if owner[c] == q and not is_not[c]]
        nots = [_naive_z(list(clauses[c])) for c in range(len(clauses)) if owner[c] == q and is_not[c]]
        if len(ands) <= 1 and not (cfg.use_not and nots):
            out.append(list(baseline[q]))
            continue
        zq = _naive_z(list(query[q]))
        row = []
        for g in range(len(zq)):
            s = cfg.w_query * zq[g] if (cfg.fuse_query or not ands) else 0.0
            vals = [a[g] for a in ands]
            if vals:
                if cfg.and_mode == "mean":
                    agg = sum(vals) / len(vals)
                elif cfg.and_mode == "min":
                    agg = min(vals)
                else:
                    t = cfg.softmin_temperature
                    agg = -t * math.log(sum(math.exp(-v / t) for v in vals) / len(vals))
                s += cfg.w_and * agg
            if cfg.use_not:
                s -= cfg.w_not * sum(max(n[g] - cfg.not_threshold, 0.0) for n in nots)
            row.append(s)
        out.append(row)
    return np.array(out)


@pytest.mark.parametrize("cfg", [
    CompositeConfig(),
    CompositeConfig(and_mode="mean", w_query=0.3, w_not=2.0, not_threshold=0.5),
    CompositeConfig(and_mode="min", fuse_query=False),
    CompositeConfig(and_mode="softmin", softmin_temperature=0.1, use_not=False),
])
def test_composite_matches_naive_reference(cfg):
    rng = np.random.default_rng(0)
    q, g = 7, 13
    # query 0: one clause, no NOT (baseline); 1: two ANDs; 2: AND + NOT; 3: only NOT; 4: nothing;
    # 5: three ANDs + two NOTs; 6: one AND + NOT
    owner = np.array([0, 1, 1, 2, 2, 3, 5, 5, 5, 5, 5, 6, 6])
    is_not = np.array([0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1], dtype=bool)
    baseline = rng.normal(size=(q, g)).astype(np.float32)
    query = rng.normal(size=(q, g)).astype(np.float32)
    clauses = rng.normal(size=(len(owner), g)).astype(np.float32)
    got = composite_scores(baseline, query, clauses, ClauseLayout(owner, is_not), cfg)
    want = _naive_composite(baseline, query, clauses, owner, is_not, cfg)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got[0], baseline[0])
    np.testing.assert_array_equal(got[4], baseline[4])


def test_zscore_hand_values_and_constant_row():
    z = zscore(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    s = math.sqrt(2 / 3)
    np.testing.assert_allclose(z[0], [-1 / s, 0, 1 / s])
    np.testing.assert_array_equal(z[1], [0, 0, 0])


def test_soft_min_between_min_and_mean():
    z = np.array([[0.0, 2.0], [2.0, 2.0]])
    # column 0: values 0 and 2, T=1: -log((1 + e^-2)/2)
    got = soft_min(z, 1.0, axis=0)
    assert got[0] == pytest.approx(-math.log((1 + math.exp(-2)) / 2))
    assert got[1] == pytest.approx(2.0)
    assert soft_min(z, 1e-3, axis=0)[0] == pytest.approx(0.0, abs=1e-2)
    assert soft_min(z, 1e4, axis=0)[0] == pytest.approx(1.0, abs=1e-3)
    assert np.isfinite(soft_min(np.array([[1e4], [-1e4]]), 0.01, axis=0)).all()


def test_not_penalty_hand_values():
    z = np.array([[0.5, 1.5, 3.0], [2.0, 0.0, 1.0]])
    np.testing.assert_allclose(not_penalty(z, 1.0), [1.0, 0.5, 2.0])


def test_bad_mode_and_temperature_raise_config_error():
    with pytest.raises(ConfigError, match="and_mode"):
        combine_and(np.zeros((2, 3)), CompositeConfig(and_mode="max"))
    with pytest.raises(ConfigError, match="temperature"):
        soft_min(np.zeros((2, 3)), 0.0)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape mismatch"):
        composite_scores(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((0, 3)),
                         ClauseLayout(np.zeros(0, int), np.zeros(0, bool)))


def test_not_clause_demotes_matching_candidate():
    # two candidates equally good on the AND clauses; the NOT clause fires on candidate 1
    baseline = np.array([[0.3, 0.3, 0.1, 0.1]])
    query = baseline.copy()
    clauses = np.array([[0.3, 0.3, 0.1, 0.1], [0.3, 0.3, 0.1, 0.1], [0.0, 0.9, 0.0, 0.0]])
    layout = ClauseLayout(np.array([0, 0, 0]), np.array([False, False, True]))
    got = composite_scores(baseline, query, clauses, layout, CompositeConfig(not_threshold=1.0))
    assert got[0, 0] > got[0, 1]
    assert np.argmax(got[0]) == 0


def _float64_composite(query, clauses, is_not, cfg):
    """One query's composite row computed in float64 throughout (the reference for the float32 path)."""
    def z(rows):
        rows = np.asarray(rows, dtype=np.float64)
        return (rows - rows.mean(-1, keepdims=True)) / rows.std(-1, keepdims=True)
    z_and, z_not = z(clauses[~is_not]), z(clauses[is_not])
    if cfg.and_mode == "mean":
        agg = z_and.mean(0)
    else:
        t = cfg.softmin_temperature
        agg = -t * np.log(np.exp(-z_and / t).mean(0))
    return cfg.w_query * z(query) + cfg.w_and * agg - cfg.w_not * np.maximum(z_not - cfg.not_threshold, 0).sum(0)


@pytest.mark.parametrize("cfg", [CompositeConfig(), CompositeConfig(and_mode="softmin")])
def test_float32_scoring_matches_float64_on_a_large_gallery(cfg):
    # similarities as CLIP gives them (a narrow band around 0.2) over 200,000 candidates
    rng = np.random.default_rng(1)
    g = 200_000
    query = (0.2 + 0.05 * rng.normal(size=(1, g))).astype(np.float32)
    clauses = (0.2 + 0.05 * rng.normal(size=(4, g))).astype(np.float32)
    is_not = np.array([False, False, False, True])
    got = composite_scores(query, query, clauses, ClauseLayout(np.zeros(4, np.int64), is_not), cfg)[0]
    want = _float64_composite(query[0], clauses, is_not, cfg)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)
    top = np.argsort(-want, kind="stable")[:100]
    apart = np.diff(-want[top]) > 1e-4  # neighbours that float32 rounding cannot swap
    clear = np.flatnonzero(apart[1:] & apart[:-1]) + 1  # positions fixed on both sides
    assert len(clear) > 50
    np.testing.assert_array_equal(np.argsort(-got, kind="stable")[:100][clear], top[clear])
