import numpy as np
import pytest
import torch

from calibclip.calibration.cve import calibrate_images
from calibclip.calibration.rerank import first_stage_order, rerank
from calibclip.calibration.retriever import SKIPPED_SCORE, CalibratedRetriever
from calibclip.config import CalibrationConfig
from calibclip.datasets.images import open_image
from calibclip.errors import BadQuery, ConfigError

QUERIES = ["a woman in a blue coat with a black bag", "a man wearing white shoes and green pants",
           "red hat, yellow shirt"]


def test_decay_one_lambda_zero_is_plain_clip_exactly(tiny_backbone, gallery_paths):
    retriever = CalibratedRetriever(tiny_backbone, CalibrationConfig(decay=1.0, contrast_alpha=0.0, lam=0.0, rerank_k=3))
    retriever.encode_gallery(gallery_paths, batch_size=3)
    scores = retriever.score(QUERIES, ablations=True)
    assert set(scores) == {"baseline", "calibrated", "cve_only", "dcc_only"}
    assert scores["baseline"].dtype == np.float32  # the reranked rows are float64: exact order below K
    for name in scores:
        assert scores[name].dtype in (np.float32, np.float64) and scores[name].shape == (3, 7)
        np.testing.assert_array_equal(scores[name], scores["baseline"])
    plain = (tiny_backbone.embed_texts(QUERIES) @ tiny_backbone.embed_images([open_image(p) for p in gallery_paths]).T)
    np.testing.assert_allclose(scores["baseline"], plain.numpy(), atol=1e-5)


@torch.no_grad()
@pytest.mark.parametrize("first_stage", ["original", "calibrated"])
def test_calibrated_scores_are_the_two_stage_composition(tiny_backbone, gallery_paths, first_stage):
    cfg = CalibrationConfig(rerank_k=4, lam=0.7, first_stage=first_stage)
    retriever = CalibratedRetriever(tiny_backbone, cfg)
    retriever.encode_gallery(gallery_paths, batch_size=len(gallery_paths))  # one batch, as below
    scores = retriever.score(QUERIES, ablations=True)
    pixels = torch.stack([tiny_backbone.preprocess(open_image(p)) for p in gallery_paths])
    images = calibrate_images(tiny_backbone, pixels, cfg)
    queries = retriever.encode_queries(QUERIES)
    disc_text = tiny_backbone.embed_texts(queries.masked_texts)
    text = tiny_backbone.embed_texts(QUERIES)
    plain = (text @ images.original.T).numpy()
    base = plain if first_stage == "original" else (text @ images.calibrated.T).numpy()
    expected = rerank(base, (disc_text @ images.calibrated.T).numpy(), 4, 0.7)
    np.testing.assert_allclose(scores["calibrated"], expected, atol=1e-5)
    np.testing.assert_allclose(scores["dcc_only"], rerank(plain, (disc_text @ images.original.T).numpy(), 4, 0.7),
                               atol=1e-5)  # the ablations always rank stage 1 with plain CLIP
    # below the top 4 the first-stage order survives
    for row in range(3):
        stage1 = first_stage_order(base)[row].tolist()
        assert first_stage_order(scores["calibrated"])[row].tolist()[4:] == stage1[4:]


def test_calibrated_first_stage_uses_cve_images(tiny_backbone, gallery_paths):
    retriever = CalibratedRetriever(tiny_backbone, CalibrationConfig(first_stage="calibrated", lam=0.0))
    gallery = retriever.encode_gallery(gallery_paths)
    queries = retriever.encode_queries(QUERIES)
    scores = retriever.score(QUERIES)
    np.testing.assert_allclose(scores["calibrated"], (queries.original @ gallery.calibrated.T).numpy(), atol=1e-6)


def test_unreadable_images_are_skipped_counted_and_ranked_last(tiny_backbone, gallery_paths, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    sources = [gallery_paths[0], broken, gallery_paths[1], tmp_path / "missing.png"]
    retriever = CalibratedRetriever(tiny_backbone)
    gallery = retriever.encode_gallery(sources)
    assert sorted(gallery.report.skipped) == [1, 3] and gallery.report.encoded == [0, 2]
    assert gallery.original[[1, 3]].abs().sum() == 0
    for matrix in retriever.score(QUERIES).values():
        assert set(first_stage_order(matrix)[:, 2:].flatten().tolist()) == {1, 3}
        assert matrix[:, [1, 3]].max() <= SKIPPED_SCORE


def test_cve_and_dcc_off_give_no_ablation_columns(tiny_backbone, gallery_paths):
    retriever = CalibratedRetriever(tiny_backbone, CalibrationConfig(cve_enabled=False, dcc_enabled=False))
    assert retriever.encode_gallery(gallery_paths).calibrated is None
    scores = retriever.score(QUERIES, ablations=True)
    assert set(scores) == {"baseline", "calibrated"}
    np.testing.assert_array_equal(scores["calibrated"], scores["baseline"])  # s_disc = s_orig → same fused score


@pytest.mark.parametrize("overrides,word", [({"first_stage": "both"}, "first_stage"), ({"rerank_k": 0}, "rerank_k"),
                                            ({"decay": -0.1}, "decay"), ({"mask_ratio": 2}, "mask_ratio")])
def test_bad_config_fails_before_encoding(tiny_backbone, overrides, word):
    with pytest.raises(ConfigError, match=word):
        CalibratedRetriever(tiny_backbone, CalibrationConfig(**overrides))


def test_scoring_before_encoding_or_with_blank_queries(tiny_backbone, gallery_paths):
    retriever = CalibratedRetriever(tiny_backbone)
    with pytest.raises(ConfigError, match="no gallery"):
        retriever.score(QUERIES)
    retriever.encode_gallery(gallery_paths[:2])
    with pytest.raises(BadQuery, match="query 1 is empty"):
        retriever.score(["a man", " "])
