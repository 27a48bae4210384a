"""cnclip adapter on tiny random-weight models of cn_clip's own CLIP class (ViT and ResNet towers, BERT text)."""
from __future__ import annotations

import copy
import sys

import pytest
import torch
import torch.nn.functional as F

from calibclip.backbones import load_backbone
from calibclip.errors import CheckpointMismatch, NotApplicable, SpecError, WeightsNotFound

cn_clip = pytest.importorskip("cn_clip.clip", reason="cn_clip is not installed: pip install --no-deps cn_clip six")

TEXTS = ["一个穿红色外套的女人", "a man with a black bag"]


@pytest.fixture(scope="module")
def cn_vit(cnclip_arches):
    return load_backbone(f"cnclip:{cnclip_arches['vit']}:none", device="cpu")


@pytest.fixture(scope="module")
def cn_checkpoint(cn_vit, tmp_path_factory):
    """The random model saved as cn_clip's training code saves it: fp16, DDP ``module.`` prefixes."""
    path = tmp_path_factory.mktemp("cn_weights") / "clip_cn_tiny.pt"
    torch.manual_seed(1)
    state = {f"module.{k}": (v + 0.01 * torch.randn_like(v)).half() for k, v in cn_vit.model.state_dict().items()}
    torch.save({"epoch": 1, "step": 10, "name": "tiny", "state_dict": state}, path)
    return path


def _pixels(backbone, images):
    return torch.stack([backbone.preprocess(im) for im in images])


def _cn_clip_model(cnclip_arches, state_dict):
    """cn_clip's own CLIP, built from the same config JSONs and loaded the way cn_clip's create_model does."""
    from calibclip.backbones.cnclip import _model_info

    info, _ = _model_info(cn_clip, cnclip_arches["vit"])
    model = cn_clip.model.CLIP(**info)
    model.load_state_dict({k[len("module."):]: v for k, v in state_dict.items()})
    return model.float().eval()


def test_checkpoint_loads_and_encoders_equal_cn_clips_own(cnclip_arches, cn_checkpoint, pil_images):
    backbone = load_backbone(f"cnclip:{cnclip_arches['vit']}:{cn_checkpoint}", device="cpu")
    model = _cn_clip_model(cnclip_arches, torch.load(cn_checkpoint)["state_dict"])
    pixels = torch.stack([cn_clip.image_transform(32)(im) for im in pil_images])
    ids = cn_clip.tokenize(TEXTS, context_length=52)
    with torch.no_grad():
        want_img = F.normalize(model.encode_image(pixels), dim=-1)
        want_txt = F.normalize(model.encode_text(ids), dim=-1)
    assert torch.equal(_pixels(backbone, pil_images), pixels)
    assert torch.equal(backbone.tokenize(TEXTS), ids)
    torch.testing.assert_close(backbone.encode_image(pixels), want_img, atol=1e-5, rtol=0)
    torch.testing.assert_close(backbone.encode_text(ids), want_txt, atol=1e-5, rtol=0)
    random_init = load_backbone(f"cnclip:{cnclip_arches['vit']}:none", device="cpu")
    assert (random_init.encode_text(ids) - want_txt).abs().max() > 1e-3  # the file's weights were used


def test_image_recompute_equals_encode_and_attention_matches_torch(cn_vit, pil_images):
    pixels = _pixels(cn_vit, pil_images)
    plain = cn_vit.encode_image(pixels)
    torch.testing.assert_close(cn_vit.image_from_tokens(pixels), plain, atol=1e-5, rtol=0)
    tokens = cn_vit.image_tokens(pixels)
    assert tokens.grid == (4, 4) and tokens.hidden.shape == (3, 17, 64)
    last = cn_vit.model.visual.transformer.resblocks[-1]
    normed = last.ln_1(tokens.hidden).transpose(0, 1)
    with torch.no_grad():
        _, weights = last.attn(normed, normed, normed, need_weights=True, average_attn_weights=True)
    torch.testing.assert_close(tokens.cls_attention, weights[:, 0], atol=1e-6, rtol=0)


def test_text_attention_is_berts_own_cls_row(cn_vit):
    tokens = cn_vit.text_tokens(TEXTS)
    ids = cn_vit.tokenize(TEXTS)
    torch.testing.assert_close(tokens.embedding, cn_vit.encode_text(ids), atol=1e-6, rtol=0)
    bert = copy.deepcopy(cn_vit.model.bert)  # cn_clip's own path: every layer returns its probabilities
    bert.encoder.output_attentions = True
    for layer in bert.encoder.layer:
        layer.attention.self.output_attentions = True
    with torch.no_grad():
        attentions = bert(ids, attention_mask=ids.ne(0).float())[-1]
    torch.testing.assert_close(tokens.token_attention, attentions[-1][:, :, 0].mean(dim=1), atol=1e-6, rtol=0)
    assert tokens.eot_index.tolist() == [11, 7]  # [SEP] after 10 characters / 6 one-token English words
    assert tokens.words[0] == list("一个穿红色外套的女人")
    expected = tokens.token_attention[0, 1:11].double().numpy()  # one token per character
    assert tokens.word_attention[0] == pytest.approx(expected, abs=1e-7)


def test_chinese_text_keeps_sep_after_truncation_at_52(cn_vit):
    long_text = "红色外套" * 20  # 80 characters, one token each
    ids = cn_vit.tokenize([long_text, long_text[:50]])
    assert ids.shape == (2, 52) and ids[0, 0] == 101 and ids[0, 51] == 102
    assert torch.equal(ids[0], ids[1])  # truncation keeps exactly the first 50 characters
    tokens = cn_vit.text_tokens([long_text])
    assert tokens.eot_index.tolist() == [51]
    assert (tokens.word_attention[0][50:] == 0).all() and (tokens.word_attention[0][:50] > 0).all()


def test_resnet_tower_has_text_hooks_but_no_image_calibration(cnclip_arches, pil_images):
    backbone = load_backbone(f"cnclip:{cnclip_arches['rn']}:none", device="cpu")
    assert not backbone.supports_image_calibration and backbone.image_size == (64, 64)
    with pytest.raises(NotApplicable):
        backbone.image_tokens(_pixels(backbone, pil_images[:1]))
    tokens = backbone.text_tokens(TEXTS[:1])
    torch.testing.assert_close(tokens.embedding, backbone.encode_text(backbone.tokenize(TEXTS[:1])), atol=1e-6,
                               rtol=0)


def test_bad_specs_and_weights_fail_with_one_line(cnclip_arches, cn_checkpoint, tmp_path, monkeypatch, load_error_line):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.cache/clip download folder
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    cases = [
        ("cnclip:ViT-B-16", WeightsNotFound, "clip_cn_vit-b-16.pt"),
        (f"cnclip:ViT-B-16:{tmp_path}/missing.pt", WeightsNotFound, "missing.pt"),
        (f"cnclip:{cnclip_arches['vit']}:{corrupt}", CheckpointMismatch, "corrupt.pt"),
        (f"cnclip:{cnclip_arches['rn']}:{cn_checkpoint}", CheckpointMismatch, "does not fit"),
        ("cnclip:ViT-B-99", SpecError, "ViT-B-16"),
        ("cnclip:calibtest-cn-vit@nope-bert:none", SpecError, "calibtest-cn-bert"),
    ]
    for spec, error, needle in cases:
        assert needle in load_error_line(spec, error), spec


def test_missing_cn_clip_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cn_clip", None)  # what an environment without the package looks like
    with pytest.raises(SpecError) as err:
        load_backbone("cnclip:ViT-B-16:none", device="cpu")
    assert "pip install --no-deps cn_clip six" in err.value.one_line()


@pytest.mark.slow
def test_real_size_vit_b_16_matches_cn_clip_create_model(pil_images, tmp_path):
    path = tmp_path / "clip_cn_vit-b-16.pt"  # fp16, as released: cn_clip's create_model converts to fp16 itself
    state = load_backbone("cnclip:ViT-B-16:none", device="cpu").model.state_dict()
    torch.save({"state_dict": {f"module.{k}": v.half() for k, v in state.items()}}, path)
    backbone = load_backbone(f"cnclip:ViT-B-16:{path}", device="cpu")
    model = cn_clip.utils.create_model("ViT-B-16@RoBERTa-wwm-ext-base-chinese", torch.load(path)).float().eval()
    pixels = torch.stack([cn_clip.image_transform(224)(im) for im in pil_images[:1]])
    with torch.no_grad():
        want = F.normalize(model.encode_text(cn_clip.tokenize(TEXTS)), dim=-1)
        want_img = F.normalize(model.encode_image(pixels), dim=-1)
    assert backbone.embed_dim == 512 and backbone.image_size == (224, 224)
    torch.testing.assert_close(backbone.encode_text(backbone.tokenize(TEXTS)), want, atol=1e-5, rtol=0)
    torch.testing.assert_close(backbone.encode_image(_pixels(backbone, pil_images[:1])), want_img, atol=1e-5, rtol=0)
