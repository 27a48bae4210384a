"""longclip adapter against a direct re-implementation of Long-CLIP's forward on a checkpoint in its key layout."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision import transforms as T

from calibclip.backbones import load_backbone
from calibclip.backbones.longclip import fold_positions
from calibclip.errors import CheckpointMismatch, SpecError, WeightsNotFound

LONG = 248
ARCH = "calibtest-vit"  # conftest's tiny open_clip ViT: text width 32 / 2 heads, vision width 64 / 2 heads
ONE_TOKEN_WORDS = "man woman red blue green black white coat shirt bag with the and in on".split()
SHORT_TEXT = "a man in a red coat"
TEXT_200 = " ".join(ONE_TOKEN_WORDS[i % 15] for i in range(200))  # 202 tokens: past 77, within 248
TEXT_400 = " ".join(ONE_TOKEN_WORDS[i % 15] for i in range(400))
TEXTS = [SHORT_TEXT, TEXT_200, TEXT_400]


@pytest.fixture(scope="module")
def long_state(openclip_arches) -> dict[str, torch.Tensor]:
    """A Long-CLIP checkpoint's keys and shapes: OpenAI CLIP keys + two (248, W) text position tables."""
    import open_clip

    torch.manual_seed(1)
    model = open_clip.create_model(ARCH, force_quick_gelu=True, force_context_length=LONG)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    generator = torch.Generator().manual_seed(2)
    state["positional_embedding"] = 0.5 * torch.randn(LONG, 32, generator=generator)
    state["positional_embedding_res"] = 0.5 * torch.randn(LONG, 32, generator=generator)
    return state


@pytest.fixture(scope="module")
def long_file(long_state, tmp_path_factory):
    path = tmp_path_factory.mktemp("longclip") / "longclip-B.pt"
    torch.save(long_state, path)
    return path


@pytest.fixture(scope="module")
def longclip(long_file):
    return load_backbone(f"longclip:{ARCH}:{long_file}", device="cpu")


# -- Long-CLIP's forward, written out from its model_longclip.py (facts, not its code) -----------------
def _ln(x, sd, name):
    return F.layer_norm(x, (x.shape[-1],), sd[f"{name}.weight"], sd[f"{name}.bias"])


def _block(x, sd, prefix, heads, mask=None):
    """OpenAI's residual block: pre-LN multi-head attention, then a QuickGELU MLP."""
    n, length, width = x.shape
    q, k, v = F.linear(_ln(x, sd, f"{prefix}ln_1"), sd[f"{prefix}attn.in_proj_weight"],
                       sd[f"{prefix}attn.in_proj_bias"]).chunk(3, dim=-1)
    q, k, v = (t.reshape(n, length, heads, width // heads).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / (width // heads) ** 0.5
    attended = ((scores if mask is None else scores + mask).softmax(-1) @ v).transpose(1, 2).reshape(n, length, width)
    x = x + F.linear(attended, sd[f"{prefix}attn.out_proj.weight"], sd[f"{prefix}attn.out_proj.bias"])
    hidden = F.linear(_ln(x, sd, f"{prefix}ln_2"), sd[f"{prefix}mlp.c_fc.weight"], sd[f"{prefix}mlp.c_fc.bias"])
    hidden = hidden * torch.sigmoid(1.702 * hidden)
    return x + F.linear(hidden, sd[f"{prefix}mlp.c_proj.weight"], sd[f"{prefix}mlp.c_proj.bias"])


def _reference_text(sd, ids, heads=2, layers=2):
    """Long-CLIP's encode_text: pos * mask1 + pos_res * mask2, causal blocks, ln_final, argmax (EOT) pooling."""
    mask1 = torch.zeros(LONG, 1)
    mask1[:20] = 1
    mask2 = 1 - mask1
    x = sd["token_embedding.weight"][ids] + sd["positional_embedding"] * mask1 + sd["positional_embedding_res"] * mask2
    causal = torch.full((LONG, LONG), float("-inf")).triu(1)
    for i in range(layers):
        x = _block(x, sd, f"transformer.resblocks.{i}.", heads, causal)
    pooled = _ln(x, sd, "ln_final")[torch.arange(len(ids)), ids.argmax(dim=-1)]
    return F.normalize(pooled @ sd["text_projection"], dim=-1)


def _reference_image(sd, pixels, heads=2, layers=2, patch=16):
    x = F.conv2d(pixels, sd["visual.conv1.weight"], stride=patch).flatten(2).transpose(1, 2)
    x = torch.cat([sd["visual.class_embedding"].expand(len(x), 1, -1), x], dim=1) + sd["visual.positional_embedding"]
    x = _ln(x, sd, "visual.ln_pre")
    for i in range(layers):
        x = _block(x, sd, f"visual.transformer.resblocks.{i}.", heads)
    return F.normalize(_ln(x[:, 0], sd, "visual.ln_post") @ sd["visual.proj"], dim=-1)


def _reference_tokenize(texts):
    """Long-CLIP's tokenize(truncate=True): [SOT] BPE [EOT], cut to 248 with the last id set to EOT."""
    from open_clip.tokenizer import SimpleTokenizer

    bpe = SimpleTokenizer()
    out = torch.zeros(len(texts), LONG, dtype=torch.long)
    for row, text in enumerate(texts):
        tokens = [bpe.sot_token_id, *bpe.encode(text), bpe.eot_token_id][:LONG]
        tokens[-1] = bpe.eot_token_id
        out[row, :len(tokens)] = torch.tensor(tokens)
    return out


def _reference_transform(size):
    return T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size),
                      lambda im: im.convert("RGB"), T.ToTensor(),
                      T.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))])


def test_preprocess_and_tokenizer_are_long_clips(longclip, pil_images):
    want = torch.stack([_reference_transform(64)(im) for im in pil_images])
    assert torch.equal(torch.stack([longclip.preprocess(im) for im in pil_images]), want)
    ids = longclip.tokenize(TEXTS)
    assert torch.equal(ids, _reference_tokenize(TEXTS)) and longclip.context_length == LONG
    eot = 49407
    assert ids[1, 201] == eot and ids[1, 202] == 0  # 200 words: nothing cut
    assert ids[2, LONG - 1] == eot and (ids[2] == eot).sum() == 1  # 400 words: cut, end token kept


def test_encoders_equal_long_clips_forward(longclip, long_state, pil_images):
    pixels = torch.stack([longclip.preprocess(im) for im in pil_images])
    with torch.no_grad():
        want_txt = _reference_text(long_state, _reference_tokenize(TEXTS))
        want_img = _reference_image(long_state, pixels)
    torch.testing.assert_close(longclip.encode_text(longclip.tokenize(TEXTS)), want_txt, atol=1e-5, rtol=0)
    torch.testing.assert_close(longclip.encode_image(pixels), want_img, atol=1e-5, rtol=0)
    first_75 = " ".join(TEXT_200.split()[:75])  # what a 77-position CLIP would keep
    assert (longclip.encode_text(longclip.tokenize([first_75])) - want_txt[1]).abs().max() > 1e-3


def test_folding_uses_exactly_the_rows_long_clip_reads(long_state):
    folded = fold_positions(long_state)["positional_embedding"]
    assert torch.equal(folded[:20], long_state["positional_embedding"][:20])
    assert torch.equal(folded[20:], long_state["positional_embedding_res"][20:])
    unread = dict(long_state, positional_embedding=long_state["positional_embedding"].clone(),
                  positional_embedding_res=long_state["positional_embedding_res"].clone())
    unread["positional_embedding"][20:] = 7.0  # rows mask1 zeroes out
    unread["positional_embedding_res"][:20] = 7.0  # rows mask2 zeroes out
    assert torch.equal(fold_positions(unread)["positional_embedding"], folded)


def test_hooks_reproduce_plain_outputs_past_77_tokens(longclip, pil_images):
    pixels = torch.stack([longclip.preprocess(im) for im in pil_images])
    torch.testing.assert_close(longclip.image_from_tokens(pixels), longclip.encode_image(pixels), atol=1e-5, rtol=0)
    tokens = longclip.text_tokens(TEXTS)
    torch.testing.assert_close(tokens.embedding, longclip.encode_text(longclip.tokenize(TEXTS)), atol=1e-5, rtol=0)
    assert tokens.eot_index.tolist() == [7, 201, LONG - 1]
    assert (tokens.word_attention[1] > 0).all()  # every one of the 200 words, also those past position 77
    assert (tokens.word_attention[2][:246] > 0).all() and (tokens.word_attention[2][246:] == 0).all()


def test_bad_specs_and_checkpoints_fail_with_one_line(long_state, tmp_path, load_error_line):
    plain = tmp_path / "plain.pt"
    torch.save({k: v for k, v in long_state.items() if k != "positional_embedding_res"}, plain)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    other = tmp_path / "other.pt"
    torch.save({**long_state, "text_projection": torch.zeros(32, 16)}, other)
    cases = [
        ("longclip:ViT-B-16", WeightsNotFound, "longclip-B.pt"),
        ("longclip:ViT-L-14", WeightsNotFound, "https://huggingface.co/BeichenZhang/LongCLIP-L"),
        (f"longclip:{ARCH}:{tmp_path}/missing.pt", WeightsNotFound, "missing.pt"),
        (f"longclip:{ARCH}:{plain}", CheckpointMismatch, "openclip:ARCH:openai="),
        (f"longclip:{ARCH}:{corrupt}", CheckpointMismatch, "corrupt.pt"),
        (f"longclip:{ARCH}:{other}", CheckpointMismatch, "does not fit"),
        ("longclip:ViT-B-99:none", SpecError, "ViT-B-16"),
    ]
    for spec, error, needle in cases:
        assert needle in load_error_line(spec, error), spec
