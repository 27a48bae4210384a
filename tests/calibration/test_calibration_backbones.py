"""CalibCLIP over the real architectures (random weights): open_clip ViT/ResNet, transformers CLIP/ChineseCLIP/SigLIP."""
import numpy as np
import pytest
import torch
from PIL import Image

from calibclip.backbones import load_backbone
from calibclip.calibration.cve import calibrate_images
from calibclip.calibration.dcc import discriminate_texts
from calibclip.calibration.explain import explain
from calibclip.calibration.retriever import CalibratedRetriever
from calibclip.config import CalibrationConfig
from calibclip.datasets.images import open_image
from calibclip.errors import NotApplicable

VIT_SPECS = ["tiny:none", "openclip:calibtest-vit:none", "hf:{hf_clip_dir}", "hf:{hf_chinese_clip_dir}"]
NO_CVE_SPECS = ["openclip:calibtest-rn:none", "hf:{hf_siglip_dir}"]
QUERIES = ["a woman in a red coat with a black bag", "a man with a bag"]
# selection rules that always act, whatever the (random) weights: these tests check the mechanics
ACTING = dict(dominant_select="attention", mask_select="attention")


def _load(request, template: str):
    request.getfixturevalue("openclip_arches")
    names = {name: request.getfixturevalue(name) for name in ("hf_clip_dir", "hf_chinese_clip_dir", "hf_siglip_dir")
             if "{" + name + "}" in template}
    return load_backbone(template.format(**names), device="cpu")


@pytest.fixture(scope="module", params=VIT_SPECS)
def vit_backbone(request):
    return _load(request, request.param)


@pytest.fixture(scope="module", params=NO_CVE_SPECS)
def no_cve_backbone(request):
    return _load(request, request.param)


def _ids(batch) -> torch.Tensor:
    """Token ids from any adapter's batch: tiny (ids, eot), open_clip tensor, transformers dict."""
    if isinstance(batch, tuple):
        return batch[0]
    return batch["input_ids"] if isinstance(batch, dict) else batch


def test_decay_one_lambda_zero_is_plain_clip(vit_backbone, gallery_paths):
    retriever = CalibratedRetriever(vit_backbone, CalibrationConfig(decay=1.0, contrast_alpha=0.0, lam=0.0, rerank_k=2))
    gallery = retriever.encode_gallery(gallery_paths[:4])
    torch.testing.assert_close(gallery.calibrated, gallery.original, atol=1e-6, rtol=0)
    scores = retriever.score(QUERIES, ablations=True)
    for matrix in scores.values():
        np.testing.assert_array_equal(matrix, scores["baseline"])
    images = vit_backbone.embed_images([open_image(p) for p in gallery_paths[:4]])
    np.testing.assert_allclose(scores["baseline"], (vit_backbone.embed_texts(QUERIES) @ images.T).numpy(), atol=1e-5)


@torch.no_grad()
def test_decay_moves_only_the_calibrated_embedding(vit_backbone, gallery_paths):
    pixels = torch.stack([vit_backbone.preprocess(open_image(p)) for p in gallery_paths[:2]])
    out = calibrate_images(vit_backbone, pixels, CalibrationConfig(decay=0.0, dominant_ratio=0.2, **ACTING))
    torch.testing.assert_close(out.original, vit_backbone.encode_image(pixels), atol=1e-5, rtol=0)
    assert (out.calibrated - out.original).norm(dim=1).min() > 1e-4
    assert not out.dominant[:, 0].any()


def test_masked_text_ends_with_the_end_token(vit_backbone):
    out = discriminate_texts(vit_backbone, QUERIES, CalibrationConfig(mask_ratio=0.3, **ACTING))
    assert all(out.masked_words)
    before, after = vit_backbone.text_tokens(QUERIES), vit_backbone.text_tokens(out.masked_texts)
    ids_before, ids_after = _ids(vit_backbone.tokenize(QUERIES)), _ids(vit_backbone.tokenize(out.masked_texts))
    for row in range(len(QUERIES)):
        end_id = ids_before[row, before.eot_index[row]]
        assert ids_after[row, after.eot_index[row]] == end_id
        assert after.eot_index[row] < before.eot_index[row]  # words went, the end token stayed last
    torch.testing.assert_close(out.discriminative, vit_backbone.embed_texts(out.masked_texts), atol=1e-6, rtol=0)


def test_explain_overlay_has_the_image_size(vit_backbone, tmp_path):
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (90, 40, 3), dtype=np.uint8))
    result = explain(vit_backbone, QUERIES[0], image, CalibrationConfig(**ACTING))
    result.overlay.save(tmp_path / "why.png")
    with Image.open(tmp_path / "why.png") as saved:
        assert saved.size == (40, 90)
    assert result.dominant_boxes and result.masked_words


def test_cve_is_not_applicable_without_vit_attention(no_cve_backbone, gallery_paths):
    with pytest.raises(NotApplicable) as info:
        CalibratedRetriever(no_cve_backbone)
    assert "set cve_enabled: false" in info.value.one_line()
    pixels = no_cve_backbone.preprocess(open_image(gallery_paths[0])).unsqueeze(0)
    with pytest.raises(NotApplicable, match="no ViT CLS attention"):
        calibrate_images(no_cve_backbone, pixels, CalibrationConfig())
    with pytest.raises(NotApplicable):
        explain(no_cve_backbone, QUERIES[0], gallery_paths[0])


def test_resnet_still_runs_with_cve_off(request, gallery_paths):
    backbone = _load(request, "openclip:calibtest-rn:none")
    retriever = CalibratedRetriever(backbone, CalibrationConfig(cve_enabled=False, **ACTING))
    retriever.encode_gallery(gallery_paths[:3])
    scores = retriever.score(QUERIES)
    assert scores["calibrated"].shape == (2, 3) and not np.array_equal(scores["calibrated"], scores["baseline"])


@pytest.mark.slow
def test_real_size_vit_b16_plain_equivalence(gallery_paths):
    backbone = load_backbone("openclip:ViT-B-16:none", device="cpu")
    retriever = CalibratedRetriever(backbone, CalibrationConfig(decay=1.0, lam=0.0))
    retriever.encode_gallery(gallery_paths[:2])
    scores = retriever.score(QUERIES)
    np.testing.assert_array_equal(scores["calibrated"], scores["baseline"])
    images = backbone.embed_images([open_image(p) for p in gallery_paths[:2]])
    np.testing.assert_allclose(scores["baseline"], (backbone.embed_texts(QUERIES) @ images.T).numpy(), atol=1e-5)
