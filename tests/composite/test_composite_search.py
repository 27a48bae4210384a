import numpy as np
import pytest
import torch
from PIL import Image

from calibclip.backbones import load_backbone
from calibclip.calibration.retriever import CalibratedRetriever
from calibclip.composite.rewriters import create_rewriter
from calibclip.composite.scoring import ClauseLayout, composite_scores
from calibclip.composite.search import CompositeSearcher
from calibclip.config import CalibrationConfig, CompositeConfig
from calibclip.errors import BadQuery, ConfigError
from calibclip.types import Clauses

QUERIES = ["a man in a red coat with a bag, no hat", "a dog", "no dogs", "a woman wearing shoes and a blue shirt"]


@pytest.fixture(scope="module")
def backbone():
    return load_backbone("tiny:none", "cpu")


@pytest.fixture(scope="module")
def gallery(backbone):
    torch.manual_seed(1)
    return torch.nn.functional.normalize(torch.randn(23, backbone.embed_dim), dim=-1)


def _naive(backbone, gallery, clauses, cfg):
    """Each text encoded on its own, scored on its own, then combined."""
    def sims(text):
        return (backbone.embed_texts([text]) @ gallery.T).numpy()[0]

    baseline = np.stack([sims(c.raw) for c in clauses])
    optimized = np.stack([sims(c.optimized) for c in clauses])
    rows, owner, is_not = [], [], []
    for q, c in enumerate(clauses):
        for text, neg in [*((t, False) for t in c.and_clauses), *((t, True) for t in c.not_clauses)]:
            rows.append(sims(text))
            owner.append(q)
            is_not.append(neg)
    clause_scores = np.stack(rows) if rows else np.zeros((0, gallery.shape[0]))
    return baseline, composite_scores(baseline, optimized, clause_scores,
                                      ClauseLayout(np.array(owner, dtype=int), np.array(is_not, dtype=bool)), cfg)


def test_batched_scoring_equals_one_text_at_a_time(backbone, gallery):
    cfg = CompositeConfig(and_mode="mean", not_threshold=0.5)
    searcher = CompositeSearcher(backbone, cfg, create_rewriter("rule"))
    result = searcher.score(QUERIES, gallery, explain_top=3)
    baseline, composite = _naive(backbone, gallery, result.clauses, cfg)
    np.testing.assert_allclose(result.baseline, baseline, atol=1e-5)
    np.testing.assert_allclose(result.composite, composite, atol=1e-4)
    assert result.baseline.dtype == np.float32 and result.composite.shape == (4, 23)
    np.testing.assert_array_equal(result.composite[1], result.baseline[1])   # one clause: baseline
    assert result.calibrated is None
    top = result.explanations[0]
    assert [e["index"] for e in top] == list(np.argsort(-result.composite[0], kind="stable")[:3])
    assert set(top[0]["and"]) == {"a man in a red coat", "a man with a bag"} and set(top[0]["not"]) == {"hat"}
    g = top[0]["index"]
    want = float((backbone.embed_texts(["hat"]) @ gallery[g]).item())
    assert top[0]["not"]["hat"] == pytest.approx(want, abs=1e-5)


def test_clauses_pass_through_and_empty_lists_fall_back(backbone, gallery):
    searcher = CompositeSearcher(backbone)
    given = [Clauses(raw="a cat", optimized="a cat"),
             Clauses(raw="a cat on a sofa", optimized="", and_clauses=("a cat", " "), not_clauses=("",))]
    result = searcher.score(given, gallery)
    np.testing.assert_array_equal(result.composite, result.baseline)
    assert result.clauses[1].optimized == "a cat on a sofa" and result.clauses[1].and_clauses == ("a cat",)


def test_negation_only_query_is_query_minus_penalty(backbone, gallery):
    result = CompositeSearcher(backbone, CompositeConfig(not_threshold=1.0, w_not=1.0)).score(["no dogs"], gallery)
    c = result.clauses[0]
    assert (c.optimized, c.and_clauses, c.not_clauses) == ("a photo", (), ("dogs",))
    assert not np.array_equal(result.composite[0], result.baseline[0])
    photo, dogs = (backbone.embed_texts(["a photo", "dogs"]) @ gallery.T).double().numpy()
    z = lambda x: (x - x.mean()) / x.std()  # noqa: E731
    want = z(photo) - np.maximum(z(dogs) - 1.0, 0.0)
    np.testing.assert_allclose(result.composite[0], want, atol=1e-4)


def test_huge_and_chinese_queries_score_without_error(backbone, gallery):
    huge = ", ".join(["a man in a red coat walking a dog"] * 200)[:5000]
    result = CompositeSearcher(backbone, lang="zh").score([huge, "一个穿红色外套的男人在公园里跑步，没有帽子"], gallery)
    assert np.isfinite(result.composite).all()
    assert result.clauses[1].not_clauses == ("帽子",)
    assert result.clauses[0].and_clauses[0] == "a man in a red coat"


def test_bad_inputs(backbone, gallery):
    searcher = CompositeSearcher(backbone)
    with pytest.raises(BadQuery, match="no queries"):
        searcher.score([], gallery)
    with pytest.raises(BadQuery, match="empty query"):
        searcher.score(["  "], gallery)
    with pytest.raises(ConfigError, match="gallery embeddings have shape"):
        searcher.score(["a dog"], gallery[:, :5])
    with pytest.raises(ConfigError, match="no gallery embeddings"):
        searcher.score(["a dog"])


def test_skipped_gallery_rows_rank_last(backbone, gallery):
    result = CompositeSearcher(backbone).score(QUERIES, gallery, skipped=[0, 5])
    for scores in (result.baseline, result.composite):
        order = np.argsort(-scores, axis=1, kind="stable")
        assert {int(i) for i in order[:, -2:].ravel()} == {0, 5}


def test_composite_with_calibration_differs_from_each_alone(backbone, tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(9):
        pixels = rng.integers(0, 255, (192, 64, 3), dtype=np.uint8)
        pixels[40:100, 16:48] = rng.integers(0, 256, 3, dtype=np.uint8)
        paths.append(tmp_path / f"img_{i}.png")
        Image.fromarray(pixels).save(paths[-1])
    retriever = CalibratedRetriever(backbone, CalibrationConfig(rerank_k=5, dominant_select="attention",
                                                                mask_select="attention"))
    features = retriever.encode_gallery(paths, workers=1)
    both = CompositeSearcher(backbone, calibration=retriever).score(QUERIES)
    plain = CompositeSearcher(backbone).score(QUERIES, features.original)
    np.testing.assert_allclose(both.baseline, plain.baseline, atol=1e-5)
    np.testing.assert_allclose(both.calibrated, retriever.score(QUERIES)["calibrated"], atol=1e-5)
    composite_rows = [0, 3]  # the queries with several clauses
    assert not np.allclose(both.composite[composite_rows], plain.composite[composite_rows])
    assert not np.allclose(both.composite[composite_rows], both.calibrated[composite_rows])
    np.testing.assert_allclose(both.composite[1], both.calibrated[1], atol=1e-6)
