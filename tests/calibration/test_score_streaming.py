"""Blocked scoring (``iter_scores`` / ``score_features``) against a naive full-matrix reference."""
import numpy as np
import pytest
import torch

import calibclip.calibration.retriever as retriever
from calibclip.calibration.retriever import (SKIPPED_SCORE, GalleryFeatures, QueryFeatures, iter_scores,
                                             score_features)
from calibclip.calibration.presets import resolve_calibration
from calibclip.config import CalibrationConfig
from calibclip.index.encode import EncodeReport


def _unit(rows, dim, seed):
    """Vectors of quarters: every product and sum is exact in float16/32/64, in any order or blocking,
    so exact ties are real ties (float32 BLAS results otherwise depend on a row's position)."""
    return torch.randint(-3, 4, (rows, dim), generator=torch.Generator().manual_seed(seed)).float() / 4


def _features(queries=11, images=53, dim=6, duplicates=True):
    original, calibrated = _unit(images, dim, 1), _unit(images, dim, 2)
    if duplicates:  # identical gallery rows: exact ties at every cut
        original[10:20], calibrated[10:20] = original[0], calibrated[0]
    report = EncodeReport(encoded=[i for i in range(images) if i not in (4, 31)], skipped={4: "bad", 31: "bad"})
    original[[4, 31]], calibrated[[4, 31]] = 0, 0
    gallery = GalleryFeatures(original=original, calibrated=calibrated, report=report)
    text = _unit(queries, dim, 3)
    return QueryFeatures(text, _unit(queries, dim, 4), [[] for _ in range(queries)], [""] * queries), gallery


def _naive(queries, gallery, cfg):
    """Full products, a full stable sort per row, the fused top K, then the rest in stage-1 order."""
    cfg = resolve_calibration(cfg)  # unset knobs: the library defaults, as score_features resolves them
    def full(t, i):
        s = (t.double() @ i.double().T).numpy()
        s[:, sorted(gallery.report.skipped)] = SKIPPED_SCORE
        return s
    first = full(queries.original, gallery.calibrated if cfg.first_stage == "calibrated" else gallery.original)
    disc = full(queries.discriminative if cfg.dcc_enabled else queries.original,
                gallery.calibrated if cfg.cve_enabled else gallery.original)
    out = []
    for row_first, row_disc in zip(first, disc):
        stage1 = sorted(range(len(row_first)), key=lambda j: (-row_first[j], j))
        top = stage1[:cfg.rerank_k]
        fused = {j: (1 - cfg.lam) * row_first[j] + cfg.lam * row_disc[j] for j in top}
        out.append(sorted(top, key=lambda j: (-fused[j], j)) + stage1[cfg.rerank_k:])
    return out


def _order(scores):
    return np.argsort(-scores, axis=1, kind="stable").tolist()


@pytest.mark.parametrize("first_stage", ["original", "calibrated"])
@pytest.mark.parametrize("block_rows,gallery_block", [(1, 7), (3, 50), (4, 1 << 15), (None, 13)])
def test_blocked_scores_rank_like_the_naive_reference(monkeypatch, first_stage, block_rows, gallery_block):
    monkeypatch.setattr(retriever, "GALLERY_BLOCK", gallery_block)
    queries, gallery = _features()
    cfg = CalibrationConfig(first_stage=first_stage, rerank_k=9, lam=0.6)
    blocks = list(iter_scores(queries, gallery, cfg, block_rows=block_rows))
    assert [r.start for r, _ in blocks] == list(range(0, 11, block_rows or 11))
    calibrated = np.concatenate([b["calibrated"] for _, b in blocks])
    assert calibrated.dtype == np.float64
    assert _order(calibrated) == _naive(queries, gallery, cfg)
    full = score_features(queries, gallery, cfg)
    np.testing.assert_array_equal(full["calibrated"], calibrated)
    plain = (queries.original @ gallery.original.T).numpy()
    plain[:, [4, 31]] = SKIPPED_SCORE
    np.testing.assert_array_equal(full["baseline"], plain)


def test_fp16_storage_is_scored_in_float32(monkeypatch):
    monkeypatch.setattr(retriever, "GALLERY_BLOCK", 5)
    queries, gallery = _features(duplicates=False)
    half = GalleryFeatures(gallery.original.half(), gallery.calibrated.half(), gallery.report)
    as_float = GalleryFeatures(half.original.float(), half.calibrated.float(), gallery.report)
    cfg = CalibrationConfig(first_stage="original", rerank_k=5, lam=0.5)
    got, want = score_features(queries, half, cfg, ablations=True), score_features(queries, as_float, cfg, True)
    assert got["baseline"].dtype == np.float32 and set(got) == {"baseline", "calibrated", "cve_only", "dcc_only"}
    for name in got:
        np.testing.assert_array_equal(got[name], want[name])


def test_dcc_and_cve_off_repeat_stage_one_exactly():
    queries, gallery = _features()
    cfg = CalibrationConfig(cve_enabled=False, dcc_enabled=False, rerank_k=3, lam=0.3)
    off = QueryFeatures(queries.original, None, queries.masked_words, queries.masked_texts)
    scores = score_features(off, GalleryFeatures(gallery.original, None, gallery.report), cfg)
    np.testing.assert_array_equal(scores["calibrated"], scores["baseline"])


@pytest.mark.parametrize("first_stage", ["original", "calibrated"])
def test_calibrated_only_skips_the_plain_matrix(first_stage):
    queries, gallery = _features()
    cfg = CalibrationConfig(first_stage=first_stage, rerank_k=4, lam=0.5)
    alone = score_features(queries, gallery, cfg, baseline=False)
    assert set(alone) == {"calibrated"}
    np.testing.assert_array_equal(alone["calibrated"], score_features(queries, gallery, cfg)["calibrated"])
