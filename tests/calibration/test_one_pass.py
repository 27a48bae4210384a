"""CVE reads the last block's q/k/v once; DCC re-encodes only the texts it masked."""
import torch

from calibclip.calibration.cve import calibrate_images
from calibclip.calibration.dcc import discriminate_texts
from calibclip.config import CalibrationConfig
from calibclip.datasets.images import open_image


@torch.no_grad()
def test_cve_computes_the_last_block_qkv_once_for_all_embeddings(tiny_backbone, gallery_paths):
    pixels = torch.stack([tiny_backbone.preprocess(open_image(p)) for p in gallery_paths[:3]])
    cfg = CalibrationConfig(decay=0.2, contrast_alpha=0.5, dominant_select="attention")
    parts = tiny_backbone.vit_parts(pixels)
    qkv, calls = parts.qkv, []
    parts.qkv = lambda t: calls.append(t.shape) or qkv(t)  # count the projections of the last block
    once = calibrate_images(tiny_backbone, pixels, cfg, parts=parts)
    assert len(calls) == 1  # attention map, original, calibrated and dominant-only share one projection
    fresh = [tiny_backbone.image_from_tokens(pixels, None), tiny_backbone.encode_image(pixels)]
    torch.testing.assert_close(once.original, fresh[0], atol=0, rtol=0)
    torch.testing.assert_close(once.original, fresh[1], atol=1e-6, rtol=0)
    again = calibrate_images(tiny_backbone, pixels, cfg)  # its own parts: the same numbers
    torch.testing.assert_close(once.calibrated, again.calibrated, atol=0, rtol=0)


@torch.no_grad()
def test_dcc_re_encodes_only_the_masked_texts(tiny_backbone, monkeypatch):
    texts = ["a woman in a blue coat with a black bag", "a dog", "red.", "the man wearing white shoes"]
    encoded = []
    embed = tiny_backbone.embed_texts
    monkeypatch.setattr(tiny_backbone, "embed_texts", lambda t, *a: encoded.extend(t) or embed(t, *a))
    out = discriminate_texts(tiny_backbone, texts, CalibrationConfig(mask_ratio=0.2, min_masked=1, mask_select="attention"))
    changed = [i for i, words in enumerate(out.masked_words) if words]
    assert changed == [0, 3] and encoded == [out.masked_texts[i] for i in changed]
    torch.testing.assert_close(out.discriminative[[1, 2]], out.original[[1, 2]], atol=0, rtol=0)
    torch.testing.assert_close(out.discriminative[changed], embed([out.masked_texts[i] for i in changed]),
                               atol=1e-6, rtol=0)


def test_features_from_inference_mode_are_ordinary_tensors(tiny_backbone, gallery_paths):
    from calibclip.calibration.retriever import CalibratedRetriever

    retriever = CalibratedRetriever(tiny_backbone)
    gallery = retriever.encode_gallery(gallery_paths[:2])
    queries = retriever.encode_queries(["a man in a red coat"])
    for tensor in (gallery.original, gallery.calibrated, queries.original, queries.discriminative):
        assert not tensor.is_inference()
        tensor.mul_(1.0)  # in place, outside inference mode: allowed
