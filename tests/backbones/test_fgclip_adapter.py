"""fgclip adapter on a tiny random folder whose remote code is a stand-in following FG-CLIP's interface.

FG-CLIP's real hub code and weights are not available offline; these tests check the loading path
(``auto_map`` + ``trust_remote_code``, local files only), the short/long text paths and the hooks.
"""
from __future__ import annotations

import json
import shutil

import pytest
import torch
import torch.nn.functional as F

from calibclip.backbones import load_backbone
from calibclip.errors import SpecError, WeightsNotFound

EOS = 49407
ONE_TOKEN_WORDS = "man woman red blue green black white coat shirt bag with the and in on".split()
SHORT_TEXT = "a man in a red coat"
LONG_TEXT = " ".join(ONE_TOKEN_WORDS[i % 15] for i in range(120))  # 122 tokens: the long path
TEXTS = [SHORT_TEXT, LONG_TEXT, "woman with a black bag"]


@pytest.fixture(scope="module")
def fgclip(fgclip_dir):
    return load_backbone(f"fgclip:{fgclip_dir}", device="cpu")


@pytest.fixture(scope="module")
def readme_parts(fgclip_dir):
    """The model, tokenizer and image processor loaded the way FG-CLIP's README loads them."""
    from transformers import AutoImageProcessor, AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(fgclip_dir, trust_remote_code=True,
                                                 attn_implementation="eager").eval()  # attentions readable
    return model, AutoTokenizer.from_pretrained(fgclip_dir), AutoImageProcessor.from_pretrained(fgclip_dir)


def _readme_text(parts, texts, walk_short_pos):
    model, tokenizer, _ = parts
    length = 77 if walk_short_pos else 248
    ids = tokenizer(texts, max_length=length, padding="max_length", truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        return F.normalize(model.get_text_features(ids, walk_short_pos=walk_short_pos), dim=-1)


def _pixels(backbone, images):
    return torch.stack([backbone.preprocess(im) for im in images])


def test_encoders_equal_fgclips_readme_usage(fgclip, readme_parts, pil_images):
    model, _, processor = readme_parts
    pixels = processor.preprocess([im.convert("RGB").resize((32, 32)) for im in pil_images],
                                  return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        want_img = F.normalize(model.get_image_features(pixels), dim=-1)
    assert torch.equal(_pixels(fgclip, pil_images), pixels)
    torch.testing.assert_close(fgclip.encode_image(pixels), want_img, atol=1e-5, rtol=0)
    short = _readme_text(readme_parts, [SHORT_TEXT, TEXTS[2]], walk_short_pos=True)
    long = _readme_text(readme_parts, [LONG_TEXT], walk_short_pos=False)
    got = fgclip.encode_text(fgclip.tokenize(TEXTS))
    torch.testing.assert_close(got, torch.stack([short[0], long[0], short[1]]), atol=1e-5, rtol=0)
    short_on_long_path = _readme_text(readme_parts, [SHORT_TEXT], walk_short_pos=False)
    assert (short_on_long_path[0] - got[0]).abs().max() > 1e-3  # the path a text takes matters


def test_path_follows_token_count_and_long_texts_keep_the_end_token(fgclip):
    words_75 = " ".join(ONE_TOKEN_WORDS[i % 15] for i in range(75))  # 77 tokens with start and end
    words_76 = words_75 + " man"
    words_300 = " ".join(ONE_TOKEN_WORDS[i % 15] for i in range(300))
    batch = fgclip.tokenize([words_75, words_76, words_300])
    assert batch["short"].tolist() == [True, False, False] and batch["input_ids"].shape == (3, 248)
    assert batch["input_ids"][0, 76] == EOS and batch["input_ids"][2, 247] == EOS
    assert fgclip.context_length == 248
    assert fgclip.encode_text(fgclip.tokenize([])).shape == (0, 32)


def test_hooks_reproduce_plain_outputs_and_read_the_models_attention(fgclip, readme_parts, pil_images):
    pixels = _pixels(fgclip, pil_images)
    torch.testing.assert_close(fgclip.image_from_tokens(pixels), fgclip.encode_image(pixels), atol=1e-5, rtol=0)
    tokens = fgclip.image_tokens(pixels)
    assert tokens.grid == (4, 4) and tokens.hidden.shape == (3, 17, 64)
    with torch.no_grad():
        own = readme_parts[0].vision_model(pixel_values=pixels, output_attentions=True).attentions[-1]
    torch.testing.assert_close(tokens.cls_attention, own[:, :, 0].mean(dim=1), atol=1e-6, rtol=0)
    text = fgclip.text_tokens(TEXTS)
    torch.testing.assert_close(text.embedding, fgclip.encode_text(fgclip.tokenize(TEXTS)), atol=1e-6, rtol=0)
    assert text.eot_index.tolist() == [7, 121, 6]
    assert text.token_attention.shape == (3, 248)
    assert (text.token_attention[0, 8:] == 0).all() and (text.token_attention[1, :122] > 0).all()  # causal
    torch.testing.assert_close(text.token_attention.sum(dim=1), torch.ones(3), atol=1e-5, rtol=0)
    assert (text.word_attention[1] > 0).all() and len(text.word_attention[1]) == 120


def test_bad_sources_fail_with_one_line(fgclip_dir, hf_clip_dir, tmp_path, load_error_line):
    no_code = tmp_path / "no_code"
    shutil.copytree(fgclip_dir, no_code)
    (no_code / "modeling_fgclip.py").unlink()
    no_tokenizer = tmp_path / "no_tokenizer"
    shutil.copytree(fgclip_dir, no_tokenizer)
    for name in ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"):
        (no_tokenizer / name).unlink(missing_ok=True)
    cases = [
        (f"fgclip:{tmp_path}/missing", WeightsNotFound, "model directory not found"),
        ("fgclip:qihoo360/fg-clip-base", WeightsNotFound, "qihoo360/fg-clip-base"),
        (f"fgclip:{hf_clip_dir}", SpecError, "hf:DIR"),
        ("fgclip:", SpecError, "fgclip:/path/to/dir"),
        (f"fgclip:{no_code}", WeightsNotFound, "no modeling_fgclip.py"),
        (f"fgclip:{no_tokenizer}", WeightsNotFound, "no tokenizer files"),
    ]
    for spec, error, needle in cases:
        assert needle in load_error_line(spec, error), spec
    assert "AutoModelForCausalLM" in json.loads((fgclip_dir / "config.json").read_text())["auto_map"]
