"""TinyCLIP: trimmed text, convolutional stem, checkpoint round trip."""
from __future__ import annotations

import pytest
import torch

from calibclip.backbones.tiny import TinyBackbone, load_tiny_model, save_tiny_checkpoint
from calibclip.backbones.tiny_model import TinyCLIP, TinyConfig, TinyTokenizer, conv_stem
from calibclip.types import BackboneSpec

VOCAB = "a man woman in red blue coat with black bag".split()


def small(**kw) -> TinyCLIP:
    torch.manual_seed(0)
    cfg = TinyConfig(image_size=(64, 32), vision_width=32, vision_layers=2, vision_heads=2, text_width=32,
                     text_layers=2, text_heads=2, embed_dim=16, context_length=16, vocab=VOCAB, **kw)
    return TinyCLIP(cfg).eval()


def test_trimmed_ids_give_the_padded_embedding():
    model = small()
    ids, eot = TinyTokenizer(VOCAB, 16)(["a man in a red coat", "a woman with a black bag and a blue coat"])
    length = int(eot.max()) + 1
    assert length < 16
    with torch.no_grad():
        assert torch.allclose(model.encode_text(ids, eot), model.encode_text(ids[:, :length], eot), atol=1e-6)


def test_conv_stem_keeps_the_patch_grid_and_calibration_hooks():
    model = small(conv_stem=True)
    pixels = torch.randn(3, 3, 64, 32)
    assert model.visual.conv(pixels).shape == (3, 32, 4, 2)      # 16 px patches on 64×32
    backbone = TinyBackbone(BackboneSpec(family="tiny", raw="tiny:test"), torch.device("cpu"), model)
    tokens = backbone.image_tokens(pixels)
    assert tokens.grid == (4, 2) and tokens.cls_attention.shape == (3, 9)
    # recomputing the last block with unscaled attention reproduces the plain embedding
    assert torch.allclose(backbone.image_from_tokens(pixels), backbone.encode_image(pixels), atol=1e-5)


def test_conv_stem_needs_power_of_two_patch():
    assert len(conv_stem(64, 8)) == 3 * 3 + 1
    with pytest.raises(ValueError, match="power-of-two"):
        conv_stem(64, 12)


def test_checkpoint_round_trip_with_batchnorm_buffers(tmp_path):
    model = small(conv_stem=True)
    model.train()
    model.visual(torch.rand(8, 3, 64, 32))          # move the BatchNorm running statistics
    model.eval()
    path = save_tiny_checkpoint(model, tmp_path / "t.pt", extra={"note": "x"})
    loaded, extra = load_tiny_model(path)
    assert extra == {"note": "x"} and loaded.cfg.conv_stem
    bn = "visual.conv.1.running_mean"
    assert model.state_dict()[bn].abs().sum() > 0
    assert torch.allclose(loaded.state_dict()[bn], model.state_dict()[bn], atol=1e-3)
    pixels = torch.rand(2, 3, 64, 32)
    with torch.no_grad():
        assert torch.allclose(loaded.eval().encode_image(pixels), model.encode_image(pixels), atol=2e-2)
