"""open_clip adapter on tiny random-weight models of open_clip's own ViT and ModifiedResNet classes."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from calibclip.backbones import load_backbone
from calibclip.backbones.openclip import OpenClipBackbone, resize_pos_embed
from calibclip.backbones.spec import parse_spec
from calibclip.errors import CheckpointMismatch, NotApplicable, SpecError, WeightsNotFound

TEXTS = ["a man in a red coat, with a bag", "woman"]
# Words that are one BPE token each, so a 500-word caption truncates at a known word.
ONE_TOKEN_WORDS = "man woman red blue green black white coat shirt bag with the and in on".split()


@pytest.fixture(scope="module")
def weights_file(openclip_vit, tmp_path_factory):
    path = tmp_path_factory.mktemp("oc_weights") / "w.bin"
    torch.save(openclip_vit.model.state_dict(), path)
    return path


def _pixels(backbone, images):
    return torch.stack([backbone.preprocess(im) for im in images])


def test_preprocess_tokenizer_and_encoders_are_open_clips_own(openclip_vit, pil_images):
    import open_clip

    model, _, transform = open_clip.create_model_and_transforms("calibtest-vit")
    model.load_state_dict(openclip_vit.model.state_dict())
    model.eval()
    tokenizer = open_clip.get_tokenizer("calibtest-vit")
    pixels = torch.stack([transform(im) for im in pil_images])
    assert torch.equal(_pixels(openclip_vit, pil_images), pixels)
    assert torch.equal(openclip_vit.tokenize(TEXTS), tokenizer(TEXTS))
    with torch.no_grad():
        want_img = model.encode_image(pixels, normalize=True)
        want_txt = model.encode_text(tokenizer(TEXTS), normalize=True)
    torch.testing.assert_close(openclip_vit.encode_image(pixels), want_img, atol=1e-5, rtol=0)
    torch.testing.assert_close(openclip_vit.encode_text(openclip_vit.tokenize(TEXTS)), want_txt, atol=1e-5, rtol=0)


def test_image_recompute_equals_encode_and_attention_matches_torch(openclip_vit, pil_images):
    pixels = _pixels(openclip_vit, pil_images)
    plain = openclip_vit.encode_image(pixels)
    torch.testing.assert_close(openclip_vit.image_from_tokens(pixels), plain, atol=1e-5, rtol=0)
    tokens = openclip_vit.image_tokens(pixels)
    assert tokens.grid == (4, 4) and tokens.hidden.shape == (3, 17, 64)
    last = openclip_vit.model.visual.transformer.resblocks[-1]
    normed = last.ln_1(tokens.hidden)
    with torch.no_grad():
        _, weights = last.attn(normed, normed, normed, need_weights=True, average_attn_weights=True)
    torch.testing.assert_close(tokens.cls_attention, weights[:, 0], atol=1e-6, rtol=0)
    scale = torch.ones_like(tokens.cls_attention)
    scale[:, 1:5] = 0.1
    assert (openclip_vit.image_from_tokens(pixels, key_scale=scale) - plain).abs().max() > 1e-4


def test_text_tokens_embedding_and_word_attention(openclip_vit):
    out = openclip_vit.text_tokens(TEXTS)
    torch.testing.assert_close(out.embedding, openclip_vit.encode_text(openclip_vit.tokenize(TEXTS)), atol=1e-6, rtol=0)
    # <sot> a man in a red coat , with a bag <eot>: "coat," is two BPE tokens (6, 7), <eot> at 11
    assert out.eot_index.tolist() == [11, 2]
    attention = out.token_attention[0]
    assert attention[12:].sum() == 0  # the causal mask: the end token sees nothing after itself
    # only the content token counts: "coat," is "coat" (6), its "," (7) never does
    assert out.word_attention[0][5] == pytest.approx(float(attention[6]), abs=1e-6)
    summed = openclip_vit.text_tokens(TEXTS, pool="sum")
    assert summed.word_attention[0].sum() == pytest.approx(float(attention[1:11].sum() - attention[7]), abs=1e-6)
    assert out.word_attention[1][0] == pytest.approx(float(out.token_attention[1, 1]), abs=1e-6)


def test_text_attention_matches_torch_multihead_weights(openclip_vit):
    model = openclip_vit.model
    ids = openclip_vit.tokenize(TEXTS)
    with torch.no_grad():
        x = model.token_embedding(ids) + model.positional_embedding
        for block in model.transformer.resblocks[:-1]:
            x = block(x, attn_mask=model.attn_mask)
        last = model.transformer.resblocks[-1]
        normed = last.ln_1(x)
        _, weights = last.attn(normed, normed, normed, need_weights=True, attn_mask=model.attn_mask)
    eot = ids.argmax(dim=-1)
    want = weights[torch.arange(2), eot]
    got = openclip_vit.text_tokens(TEXTS).token_attention  # over the positions up to the batch's last end token
    assert got.shape == (2, int(eot.max()) + 1) and not want[:, got.shape[1]:].any()  # the rest: causal zeros
    torch.testing.assert_close(got, want[:, :got.shape[1]], atol=1e-6, rtol=0)


def test_padding_after_the_last_end_token_is_not_computed(openclip_vit):
    model, ids = openclip_vit.model, openclip_vit.tokenize(["a man", "a woman in a long red coat and black boots"])
    seen = []
    handle = model.transformer.resblocks[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape))
    try:
        got = openclip_vit.encode_text(ids)
    finally:
        handle.remove()
    length = int(ids.argmax(dim=-1).max()) + 1  # the longest text's end token
    assert length < ids.shape[1] and length in seen[0] and ids.shape[1] not in seen[0]
    with torch.no_grad():
        torch.testing.assert_close(got, model.encode_text(ids, normalize=True), atol=1e-6, rtol=0)


def test_long_text_keeps_end_token(openclip_vit):
    words = [ONE_TOKEN_WORDS[i % len(ONE_TOKEN_WORDS)] for i in range(500)]
    assert all(len(openclip_vit.tokenizer.encode(w)) == 1 for w in ONE_TOKEN_WORDS)
    ids = openclip_vit.tokenize([" ".join(words)])
    assert ids.shape == (1, 77) and ids[0, -1] == openclip_vit.tokenizer.eot_token_id
    kept = " ".join(words[:75])  # 77 positions = <sot> + 75 words + <eot>
    assert torch.equal(ids, openclip_vit.tokenize([kept]))
    out = openclip_vit.text_tokens([" ".join(words)])
    want = openclip_vit.encode_text(openclip_vit.tokenize([kept]))
    torch.testing.assert_close(out.embedding, want, atol=1e-6, rtol=0)
    assert out.word_attention[0][75:].sum() == 0 and out.word_attention[0][:75].sum() > 0


@pytest.mark.parametrize("suffix", [".bin", ".safetensors"])
def test_local_weights_file_reloads_offline(openclip_vit, pil_images, tmp_path, suffix):
    from safetensors.torch import save_file

    path = tmp_path / f"w{suffix}"
    state = openclip_vit.model.state_dict()
    save_file(state, path) if suffix == ".safetensors" else torch.save(state, path)
    reloaded = load_backbone(f"openclip:calibtest-vit:{path}", device="cpu")
    pixels = _pixels(openclip_vit, pil_images)
    assert torch.equal(reloaded.encode_image(pixels), openclip_vit.encode_image(pixels))
    want = openclip_vit.encode_text(openclip_vit.tokenize(TEXTS))
    assert torch.equal(reloaded.encode_text(reloaded.tokenize(TEXTS)), want)


def test_random_init_is_seeded(openclip_vit):
    again = load_backbone("openclip:calibtest-vit:none", device="cpu")
    assert torch.equal(again.model.visual.proj, openclip_vit.model.visual.proj)


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")  # we make the archive with TorchScript, as OpenAI did
def test_openai_torchscript_archive_loads_with_quickgelu(openclip_arches, pil_images, tmp_path):
    import open_clip

    torch.manual_seed(1)
    reference = open_clip.create_model("calibtest-vit-quickgelu").eval()
    path = tmp_path / "ViT-tiny.pt"
    torch.jit.save(torch.jit.script(reference), str(path))
    backbone = load_backbone(f"openclip:calibtest-vit:{path}", device="cpu")  # the GELU arch name
    assert type(backbone.model.visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    pixels = _pixels(backbone, pil_images)
    with torch.no_grad():
        want = reference.encode_image(pixels, normalize=True)
    torch.testing.assert_close(backbone.encode_image(pixels), want, atol=1e-5, rtol=0)
    taller = load_backbone(f"openclip:calibtest-vit@96x32:{path}", device="cpu")
    torch.testing.assert_close(taller.model.visual.positional_embedding.detach(),
                               resize_pos_embed(reference.visual.positional_embedding.detach(), (4, 4), (6, 2)))


@pytest.fixture
def fake_tag(openclip_arches, monkeypatch):
    """Register a pretrained tag for the tiny ViT in open_clip's own table (a quirky one: QuickGELU, odd mean)."""
    import open_clip.pretrained as pretrained

    cfg = {"hf_hub": "nobody/calibtest-vit/", "quick_gelu": True, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25),
           "interpolation": "bicubic", "resize_mode": "squash"}
    monkeypatch.setitem(pretrained._PRETRAINED, "calibtest-vit", {"mytag": cfg})
    return cfg


def test_tag_offline_names_the_file_to_pass(fake_tag):
    with pytest.raises(WeightsNotFound) as err:
        load_backbone("openclip:calibtest-vit:mytag", device="cpu")
    line = err.value.one_line()
    assert "\n" not in line and "nobody/calibtest-vit" in line
    assert "openclip:calibtest-vit:mytag=/path/to/open_clip_pytorch_model.bin" in line


def test_tag_equals_path_carries_the_tags_preprocessing_and_quickgelu(fake_tag, weights_file):
    backbone = load_backbone(f"openclip:calibtest-vit:MyTag={weights_file}", device="cpu")
    assert type(backbone.model.visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    normalize = backbone.transform.transforms[-1]
    assert tuple(normalize.mean) == (0.5, 0.5, 0.5) and tuple(normalize.std) == (0.25, 0.25, 0.25)


def test_real_hub_tag_offline_is_weights_not_found():
    with pytest.raises(WeightsNotFound) as err:
        load_backbone("openclip:ViT-B-16:openai", device="cpu")
    assert "openclip:ViT-B-16:openai=/path/to/open_clip_pytorch_model.bin" in err.value.one_line()


@pytest.mark.parametrize("spec, error, words", [
    ("openclip:ViT-B-99:none", SpecError, "ViT-B-"),
    ("openclip:calibtest-vit:no_such_tag", SpecError, "known tags"),
    ("openclip:calibtest-vit:/no/such/w.bin", WeightsNotFound, "/no/such/w.bin"),
    ("openclip:calibtest-vit@100x30:none", SpecError, "patch size 16"),
    ("openclip:ViT-B-16-SigLIP:none", WeightsNotFound, "not cached"),  # its tokenizer lives on the hub
])
def test_bad_specs_fail_with_one_line(openclip_arches, spec, error, words):
    with pytest.raises(error) as err:
        load_backbone(spec, device="cpu")
    assert words in err.value.one_line() and "\n" not in err.value.one_line()


def test_corrupt_or_mismatched_checkpoint_is_checkpoint_mismatch(openclip_arches, tmp_path):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a checkpoint" * 10)
    rn_weights = tmp_path / "rn.bin"
    torch.save(load_backbone("openclip:calibtest-rn:none", device="cpu").model.state_dict(), rn_weights)
    for path in (garbage, rn_weights):
        with pytest.raises(CheckpointMismatch) as err:
            load_backbone(f"openclip:calibtest-vit:{path}", device="cpu")
        assert str(path) in err.value.one_line()


def test_resnet_has_no_image_calibration(openclip_arches, pil_images):
    backbone = load_backbone("openclip:calibtest-rn:none", device="cpu")
    pixels = _pixels(backbone, pil_images)
    assert backbone.supports_image_calibration is False
    assert backbone.encode_image(pixels).shape == (3, 32)
    for call in (backbone.image_tokens, backbone.image_from_tokens):
        with pytest.raises(NotApplicable):
            call(pixels)
    assert backbone.text_tokens(TEXTS).embedding.shape == (2, 32)  # the text tower is a plain CLIP one


def test_resize_pos_embed_matches_open_clip_on_square_grids():
    from open_clip.model import resize_pos_embed as open_clip_resize

    torch.manual_seed(0)
    table = torch.randn(1 + 7 * 7, 8)
    state = {"visual.positional_embedding": table}
    open_clip_resize(state, SimpleNamespace(visual=SimpleNamespace(grid_size=(24, 8))))  # all it reads
    torch.testing.assert_close(resize_pos_embed(table, (7, 7), (24, 8)), state["visual.positional_embedding"])


def test_resize_pos_embed_non_square_source_keeps_cls_and_layout():
    table = torch.zeros(1 + 6 * 2, 3)
    table[0] = torch.tensor([7.0, 8.0, 9.0])
    grid = table[1:].view(6, 2, 3)
    grid[:, 0], grid[:, 1] = 1.0, -1.0  # values depend on the column only
    out = resize_pos_embed(table, (6, 2), (3, 4))
    assert out.shape == (13, 3) and torch.equal(out[0], table[0])
    rows = out[1:].view(3, 4, 3)
    torch.testing.assert_close(rows, rows[:1].expand(3, 4, 3))  # interpolating along H keeps each column
    assert torch.equal(resize_pos_embed(table, (6, 2), (6, 2)), table)
    with pytest.raises(CheckpointMismatch):
        resize_pos_embed(table, (7, 2), (3, 4))


def test_image_size_override_resamples_loaded_weights(openclip_vit, weights_file, pil_images):
    spec = f"openclip:calibtest-vit:{weights_file}"
    by_keyword = OpenClipBackbone.load(parse_spec(spec), torch.device("cpu"), image_size=(96, 32))
    by_spec = load_backbone(f"openclip:calibtest-vit@96x32:{weights_file}", device="cpu")
    want = resize_pos_embed(openclip_vit.model.visual.positional_embedding.detach(), (4, 4), (6, 2))
    for backbone in (by_keyword, by_spec):
        assert backbone.image_size == (96, 32) and backbone.model.visual.grid_size == (6, 2)
        torch.testing.assert_close(backbone.model.visual.positional_embedding.detach(), want)
    pixels = _pixels(by_spec, pil_images)
    assert pixels.shape == (3, 3, 96, 32)
    torch.testing.assert_close(by_spec.image_from_tokens(pixels), by_spec.encode_image(pixels), atol=1e-5, rtol=0)
    assert by_spec.image_tokens(pixels).grid == (6, 2)


@pytest.mark.slow  # ~9 s of CPU: a 150M-parameter model, three forward passes
def test_real_size_vit_b16_at_person_resolution(pil_images):
    backbone = load_backbone("openclip:ViT-B-16@384x128:none", device="cpu")
    assert (backbone.embed_dim, backbone.image_size, backbone.context_length) == (512, (384, 128), 77)
    pixels = _pixels(backbone, pil_images[:1])
    tokens = backbone.image_tokens(pixels)
    assert tokens.grid == (24, 8) and tokens.cls_attention.shape == (1, 193)
    torch.testing.assert_close(backbone.image_from_tokens(pixels), backbone.encode_image(pixels), atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def pooled_variants(openclip_arches, tmp_path_factory):
    """Tiny ViTs whose text tower pools the last position, or the first one (useless under a causal mask)."""
    import json

    import open_clip

    folder = tmp_path_factory.mktemp("oc_pool_configs")
    for pool in ("last", "first"):
        cfg = open_clip.get_model_config("calibtest-vit")  # a fresh copy
        cfg["text_cfg"]["pool_type"] = pool
        (folder / f"calibtest-vit-{pool}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder)


def test_text_pooling_last_is_read_and_first_is_refused(pooled_variants):
    last = load_backbone("openclip:calibtest-vit-last:none", device="cpu")
    out = last.text_tokens(TEXTS)
    assert out.eot_index.tolist() == [76, 76]
    torch.testing.assert_close(out.embedding, last.encode_text(last.tokenize(TEXTS)), atol=1e-6, rtol=0)
    torch.testing.assert_close(out.token_attention.sum(dim=-1), torch.ones(2))
    first = load_backbone("openclip:calibtest-vit-first:none", device="cpu")
    with pytest.raises(NotApplicable, match="'first'"):
        first.text_tokens(TEXTS)


def test_bare_file_of_an_openai_architecture_warns_about_quickgelu(fake_tag, weights_file, monkeypatch, caplog):
    import open_clip.pretrained as pretrained

    monkeypatch.setitem(pretrained._PRETRAINED, "calibtest-vit", {"openai": fake_tag})
    with caplog.at_level("WARNING", logger="calibclip.backbones.openclip_load"):
        backbone = load_backbone(f"openclip:calibtest-vit:{weights_file}", device="cpu")
    assert f"openclip:calibtest-vit:openai={weights_file}" in caplog.text
    assert type(backbone.model.visual.transformer.resblocks[0].mlp.gelu).__name__ == "GELU"
