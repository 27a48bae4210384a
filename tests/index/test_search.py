"""Searcher results equal a brute-force computation over the stored vectors (plain, calibrated, composite)."""
import dataclasses

import numpy as np
import pytest

from calibclip.calibration.dcc import discriminate_texts
from calibclip.composite.rewriters import create_rewriter
from calibclip.config import CompositeConfig
from calibclip.errors import BadQuery, IndexMismatch, UnknownImage
from calibclip.index.indexer import index_folder
from calibclip.index.relevance import REFERENCE_CAPTIONS
from calibclip.index.store import Store
from calibclip.search import Searcher

QUERY = "a man in a red coat with a black bag, no hat"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, micro_backbone, write_images):
    root = tmp_path_factory.mktemp("search")
    write_images(root / "photos", 150, seed=7)
    index_folder(root / "photos", root / "photos.db", micro_backbone, batch_size=32, workers=0)
    with Store(root / "photos.db") as store:
        ids, original, calibrated = store.matrices()
    return root / "photos.db", ids, original.astype(np.float32), calibrated.astype(np.float32)


@pytest.fixture
def searcher(indexed, micro_backbone):
    s = Searcher(indexed[0], backbone=micro_backbone)
    yield s
    s.close()


def _order(scores):
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def _calibrated(backbone, cfg, text, original, calibrated):
    """Naive CalibCLIP over full matrices → (final scores, masked words).

    Stage 1 ranks every image; the top K get (1 − λ)·s_first + λ·s_disc; the rest keep their
    stage-1 scores, shifted (when needed) to just under the lowest top-K score.
    """
    texts = discriminate_texts(backbone, [text], cfg)
    q, d = texts.original.numpy()[0], texts.discriminative.numpy()[0]
    first = ((calibrated if cfg.first_stage == "calibrated" else original) @ q).astype(np.float64)
    disc = (calibrated @ d).astype(np.float64)
    order = _order(first)
    top, rest = order[:cfg.rerank_k], order[cfg.rerank_k:]
    final = first.copy()
    final[top] = (1 - cfg.lam) * first[top] + cfg.lam * disc[top]
    low = final[top].min()
    if len(rest) and first[rest].max() >= low:
        final[rest] -= first[rest].max() - low + 1e-6 * max(1.0, abs(low))
    return final, texts.masked_words[0]


def _z(rows):
    rows = np.asarray(rows, dtype=np.float64)
    return (rows - rows.mean(axis=-1, keepdims=True)) / np.maximum(rows.std(axis=-1, keepdims=True), 1e-6)


def _composite(backbone, cfg: CompositeConfig, clauses, score):
    """Naive CsdCLIP combination of per-text score rows (``score(text) -> (G,)``)."""
    z_q = _z(score(clauses.optimized))
    z_and = np.array([_z(score(t)) for t in clauses.and_clauses])
    z_not = np.array([_z(score(t)) for t in clauses.not_clauses])
    assert len(z_and) >= 2 or len(z_not), "the query must be composite for this check"
    and_part = {"mean": lambda z: z.mean(0), "min": lambda z: z.min(0),
                "softmin": lambda z: -cfg.softmin_temperature * np.log(np.exp(-z / cfg.softmin_temperature).mean(0))}
    out = cfg.w_query * z_q if cfg.fuse_query or not len(z_and) else np.zeros_like(z_q)
    if len(z_and):
        out = out + cfg.w_and * and_part[cfg.and_mode](z_and)
    if cfg.use_not and len(z_not):
        out = out - cfg.w_not * np.maximum(z_not - cfg.not_threshold, 0).sum(0)
    return out


def test_plain_search_is_brute_force(indexed, searcher, micro_backbone):
    _, ids, original, _ = indexed
    scores = original @ micro_backbone.embed_texts([QUERY]).numpy()[0]
    result = searcher.search(QUERY, k=25)
    expected = _order(scores)[:25]
    assert [h.id for h in result.hits] == ids[expected].tolist()
    assert [h.score for h in result.hits] == pytest.approx(scores[expected].tolist(), abs=1e-6)
    assert [h.rank for h in result.hits] == list(range(1, 26)) == [h.baseline_rank for h in result.hits]
    assert result.searched == 150 and result.method == "baseline"


@pytest.mark.parametrize("first_stage", ["original", "calibrated"])
def test_calibrated_search_is_brute_force(indexed, micro_backbone, first_stage):
    db, ids, original, calibrated = indexed
    stored = Searcher(db, backbone=micro_backbone).cfg
    # query-side knobs may differ from the index's
    cfg = dataclasses.replace(stored, rerank_k=7, lam=0.5, first_stage=first_stage)
    searcher = Searcher(db, backbone=micro_backbone, calibration=cfg)
    final, masked = _calibrated(micro_backbone, cfg, QUERY, original, calibrated)
    order = _order(final)
    result = searcher.search(QUERY, k=20, calibrate=True)
    assert [h.id for h in result.hits] == ids[order[:20]].tolist()
    assert [h.score for h in result.hits] == pytest.approx(final[order[:20]].tolist(), abs=1e-5)
    assert result.masked_words == masked and masked
    plain = original @ micro_backbone.embed_texts([QUERY]).numpy()[0]
    plain_rank = {int(i): r + 1 for r, i in enumerate(_order(plain))}
    assert [h.baseline_rank for h in result.hits] == [plain_rank[int(i)] for i in order[:20]]
    assert all(h.suppressed for h in result.hits)
    why = searcher.explain(QUERY, result.hits[0].id)
    assert why.s_final == pytest.approx(result.hits[0].score, abs=1e-5)
    assert why.s_orig == pytest.approx(result.hits[0].baseline_score, abs=1e-5)
    assert why.masked_words == masked and why.overlay.size == (40, 32)
    searcher.close()


@pytest.mark.parametrize("calibrate", [False, True])
def test_composite_search_is_brute_force(indexed, searcher, micro_backbone, calibrate):
    _, ids, original, calibrated = indexed
    clauses = create_rewriter("rule").rewrite(QUERY)

    def score(text):  # with calibration a clause meets the CVE images (no per-clause DCC or rerank)
        return (calibrated if calibrate else original) @ micro_backbone.embed_texts([text]).numpy()[0]

    expected = _composite(micro_backbone, searcher.composite_cfg, clauses, score)
    result = searcher.search(QUERY, k=30, composite=True, calibrate=calibrate)
    assert result.clauses.and_clauses == clauses.and_clauses and result.clauses.not_clauses == clauses.not_clauses
    assert [h.id for h in result.hits] == ids[_order(expected)[:30]].tolist()
    assert [h.score for h in result.hits] == pytest.approx(expected[_order(expected)[:30]].tolist(), abs=1e-4)
    for hit in result.hits[:3]:
        row = int(np.searchsorted(ids, hit.id))
        assert list(hit.clauses["and"]) == list(clauses.and_clauses)
        for clause in clauses.not_clauses:
            assert hit.clauses["not"][clause] == pytest.approx(score(clause)[row], abs=1e-5)


def test_min_score_keeps_only_matches_in_method_order(indexed, searcher, micro_backbone):
    _, ids, original, _ = indexed
    reference = micro_backbone.embed_texts(list(REFERENCE_CAPTIONS)).numpy() @ original.T
    match = (original @ micro_backbone.embed_texts([QUERY]).numpy()[0] - reference.mean(0)) / reference.std(0)
    cut = float(np.quantile(match, 0.8))
    result = searcher.search(QUERY, k=100, min_score=cut)
    plain = original @ micro_backbone.embed_texts([QUERY]).numpy()[0]
    expected = [i for i in _order(plain) if match[i] >= cut]
    assert [h.id for h in result.hits] == ids[expected].tolist() and 0 < len(expected) < 150
    assert [h.match for h in result.hits] == pytest.approx(match[expected].tolist(), abs=1e-4)
    assert searcher.search(QUERY, min_score=float(match.max()) + 0.1).hits == []


def test_example_image_finds_itself(indexed, searcher):
    from calibclip.index.store import Store

    db = indexed[0]
    with Store(db) as store:
        record = store.record(int(indexed[1][17]))
    for calibrate in (False, True):
        hits = searcher.search(image=record.path, k=3, calibrate=calibrate).hits
        assert hits[0].id == record.id and hits[0].baseline_score == pytest.approx(1.0, abs=2e-3)


def test_bad_searches_are_one_line(indexed, searcher, micro_backbone):
    for kwargs, message in [(dict(query="  "), "empty query"), (dict(query="a", k=0), "k must be"),
                            (dict(query="a", image="x.png"), "searched alone")]:
        with pytest.raises(BadQuery, match=message):
            searcher.search(**kwargs)
    with pytest.raises(UnknownImage, match="no image with id 99999"):
        searcher.thumbnail(99999)
    other = dataclasses.replace(searcher.cfg, decay=searcher.cfg.decay / 2)
    with pytest.raises(IndexMismatch, match="CVE config differs.*decay"):
        Searcher(indexed[0], backbone=micro_backbone, calibration=other)
    plain = dataclasses.replace(searcher.cfg, cve_enabled=False)     # CVE off reads the plain vectors: fine
    assert Searcher(indexed[0], backbone=micro_backbone, calibration=plain).search("a", calibrate=True).hits


def test_ivfpq_index_finds_the_exact_results_here(indexed, tmp_path, micro_backbone):
    import sqlite3

    db = tmp_path / "copy.db"
    with sqlite3.connect(indexed[0]) as source, sqlite3.connect(db) as target:
        source.backup(target)
    (tmp_path / "nothing").mkdir()
    summary = index_folder(tmp_path / "nothing", db, micro_backbone, kind="ivfpq")   # switch the kind only
    assert summary.kind == "ivfpq" and summary.total == 150 and (tmp_path / "copy.db.ivfpq.faiss").is_file()
    exact = Searcher(indexed[0], backbone=micro_backbone).search(QUERY, k=10, calibrate=True)
    approx = Searcher(db, backbone=micro_backbone).search(QUERY, k=10, calibrate=True)
    assert approx.searched == 150   # 150 images < the candidate count: every image is rescored exactly
    assert [h.id for h in approx.hits] == [h.id for h in exact.hits]


def test_ivfpq_trained_on_a_sample_holds_every_vector():
    from calibclip.index.vectors import build_ivfpq, training_rows

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 16)).astype(np.float16)  # fp16 as stored, added in float32 blocks
    ids = np.arange(3000) * 2 + 5
    index = build_ivfpq(vectors, ids, train_rows=500, add_block=700)
    assert index.ntotal == 3000 and index.nlist == 500 // 39  # lists follow the 500-row training set
    assert build_ivfpq(vectors, ids).nlist == 3000 // 39       # without a cap: trained on everything
    np.testing.assert_array_equal(training_rows(3000, 500)[[0, -1]], [0, 2999])
    assert len(training_rows(3000, 500)) == 500 and len(training_rows(10, 500)) == 10
    index.nprobe = index.nlist
    _, found = index.search(vectors[::300].astype(np.float32) * 10, 1)
    assert set(found[:, 0]) <= set(ids.tolist())                 # labels are the ids given
