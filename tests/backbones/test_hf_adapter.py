"""hf adapter on tiny random-weight transformers CLIPModel / ChineseCLIPModel / SiglipModel folders."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
import torch.nn.functional as F

from calibclip.backbones import load_backbone
from calibclip.backbones.hf import keep_end_token
from calibclip.errors import CheckpointMismatch, NotApplicable, SpecError, WeightsNotFound

EN_TEXTS = ["a man in a red coat, with a bag", "woman"]
CN_TEXTS = ["一个穿红色外套的女人", "a man with bag"]
ONE_TOKEN_WORDS = "man woman red coat bag with in a".split()


@pytest.fixture(scope="module")
def hf_clip(hf_clip_dir):
    return load_backbone(f"hf:{hf_clip_dir}", device="cpu")


@pytest.fixture(scope="module")
def hf_chinese(hf_chinese_clip_dir):
    return load_backbone(f"hf:{hf_chinese_clip_dir}", device="cpu")


@pytest.fixture(scope="module")
def hf_siglip(hf_siglip_dir):
    return load_backbone(f"hf:{hf_siglip_dir}", device="cpu")


def _pixels(backbone, images):
    return torch.stack([backbone.preprocess(im) for im in images])


@pytest.mark.parametrize("kind", ["clip", "chinese_clip", "siglip"])
def test_encoders_equal_the_librarys_own(kind, request, pil_images):
    import transformers

    folder = request.getfixturevalue({"clip": "hf_clip_dir", "chinese_clip": "hf_chinese_clip_dir",
                                      "siglip": "hf_siglip_dir"}[kind])
    backbone = load_backbone(f"hf:{folder}", device="cpu")
    model = transformers.AutoModel.from_pretrained(folder).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    texts = CN_TEXTS if kind == "chinese_clip" else EN_TEXTS
    pixels = processor(images=pil_images, return_tensors="pt")["pixel_values"]
    padding = "max_length" if kind == "siglip" else True
    batch = tokenizer(texts, padding=padding, return_tensors="pt")
    with torch.no_grad():
        want_img = F.normalize(model.get_image_features(pixel_values=pixels).pooler_output, dim=-1)
        want_txt = F.normalize(model.get_text_features(**batch).pooler_output, dim=-1)
    assert torch.equal(_pixels(backbone, pil_images), pixels)
    torch.testing.assert_close(backbone.encode_image(pixels), want_img, atol=1e-5, rtol=0)
    torch.testing.assert_close(backbone.encode_text(backbone.tokenize(texts)), want_txt, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["hf_clip", "hf_chinese"])
def test_image_recompute_equals_encode_and_cls_attention_is_the_models(name, request, pil_images):
    backbone = request.getfixturevalue(name)
    pixels = _pixels(backbone, pil_images)
    torch.testing.assert_close(backbone.image_from_tokens(pixels), backbone.encode_image(pixels), atol=1e-5, rtol=0)
    tokens = backbone.image_tokens(pixels)
    assert tokens.grid == (4, 4) and tokens.hidden.shape == (3, 17, 64)
    with torch.no_grad():
        attentions = backbone.model.vision_model(pixel_values=pixels, output_attentions=True).attentions
    torch.testing.assert_close(tokens.cls_attention, attentions[-1][:, :, 0].mean(dim=1), atol=1e-6, rtol=0)


def test_clip_text_attention_is_causal_and_sums_per_word(hf_clip):
    out = hf_clip.text_tokens(EN_TEXTS)
    torch.testing.assert_close(out.embedding, hf_clip.encode_text(hf_clip.tokenize(EN_TEXTS)), atol=1e-6, rtol=0)
    # <|startoftext|> a man in a red coat , with a bag <|endoftext|>: "coat," is tokens 6 and 7
    assert out.eot_index.tolist() == [11, 2]
    attention = out.token_attention
    assert attention[1, 3:].sum() == 0  # the end token cannot see the padding after it
    # only the content token counts: "coat," is "coat" (6), its "," (7) never does
    assert out.word_attention[0][5] == pytest.approx(float(attention[0, 6]), abs=1e-6)
    summed = hf_clip.text_tokens(EN_TEXTS, pool="sum")
    assert summed.word_attention[0].sum() == pytest.approx(float(attention[0, 1:11].sum() - attention[0, 7]), abs=1e-6)


def test_chinese_clip_pools_cls_and_aligns_characters(hf_chinese):
    out = hf_chinese.text_tokens(CN_TEXTS)
    torch.testing.assert_close(out.embedding, hf_chinese.encode_text(hf_chinese.tokenize(CN_TEXTS)), atol=1e-6, rtol=0)
    assert [len(w) for w in out.words] == [10, 4] and out.eot_index.tolist() == [11, 5]  # [SEP] positions
    assert hf_chinese.text_prefix_tokens == 1
    torch.testing.assert_close(torch.tensor(out.word_attention[0]), out.token_attention[0, 1:11].double())
    assert out.token_attention[1, 6:].sum() == 0  # [CLS] does not attend to padding


def test_siglip_pools_last_position_and_has_no_image_calibration(hf_siglip, pil_images):
    assert hf_siglip.supports_image_calibration is False and hf_siglip.text_prefix_tokens == 0
    with pytest.raises(NotApplicable):
        hf_siglip.image_tokens(_pixels(hf_siglip, pil_images))
    out = hf_siglip.text_tokens(["a man in red coat"])
    assert out.eot_index.tolist() == [5]
    torch.testing.assert_close(torch.tensor(out.word_attention[0]), out.token_attention[0, :5].double())


@pytest.mark.parametrize("name, words", [("hf_clip", ONE_TOKEN_WORDS), ("hf_chinese", list("红色外套女人")),
                                         ("hf_siglip", ONE_TOKEN_WORDS)])
def test_long_text_keeps_end_token(name, words, request):
    backbone = request.getfixturevalue(name)
    long_words = [words[i % len(words)] for i in range(500)]
    batch = backbone.tokenize([" ".join(long_words)])
    ids = batch["input_ids"][0]
    length = int(batch["attention_mask"][0].sum())
    assert length == backbone.context_length and ids[length - 1] == backbone._end_id
    kept_words = backbone.context_length - backbone.text_prefix_tokens - 1
    kept = backbone.tokenize([" ".join(long_words[:kept_words])])
    assert torch.equal(kept["input_ids"], batch["input_ids"])
    out = backbone.text_tokens([" ".join(long_words)])
    torch.testing.assert_close(out.embedding, backbone.encode_text(kept), atol=1e-6, rtol=0)
    assert out.word_attention[0][kept_words:].sum() == 0


def test_empty_text_list(hf_clip):
    out = hf_clip.text_tokens([])
    assert out.embedding.shape == (0, 32) and out.words == [] and out.eot_index.shape == (0,)


def test_keep_end_token_restores_a_truncated_end():
    ids = torch.tensor([[5, 6, 7, 8], [5, 9, 2, 0], [5, 6, 7, 8]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]])
    keep_end_token(ids, mask, end_id=2)
    assert ids.tolist() == [[5, 6, 7, 2], [5, 9, 2, 0], [5, 2, 7, 8]]
    bare = torch.tensor([[5, 6, 7, 8]])
    assert keep_end_token(bare, None, end_id=2).tolist() == [[5, 6, 7, 2]]


def _copy_without(folder, target, *patterns):
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns(*patterns))
    return target


def test_bad_sources_fail_with_one_line(hf_clip_dir, tmp_path, load_error_line):
    (tmp_path / "no_config").mkdir()
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    cases = [
        (tmp_path / "missing", WeightsNotFound, "not found"),
        (tmp_path / "no_config", WeightsNotFound, "config.json"),
        (tmp_path / "bert", SpecError, "'bert'"),
        (_copy_without(hf_clip_dir, tmp_path / "a", "*.safetensors"), WeightsNotFound, "model weights"),
        (_copy_without(hf_clip_dir, tmp_path / "b", "preprocessor_config.json"), WeightsNotFound, "image processor"),
        (_copy_without(hf_clip_dir, tmp_path / "c", "vocab.json", "merges.txt", "tokenizer*"), WeightsNotFound,
         "no tokenizer files"),
        ("openai/clip-vit-base-patch16", WeightsNotFound, "not cached"),
        ("", SpecError, "names no model"),
    ]
    for source, error, words in cases:
        line = load_error_line(f"hf:{source}", error)
        assert words in line, source
        if error is WeightsNotFound:
            assert "hf:/path/to/dir containing config.json and model.safetensors" in line


def test_corrupt_weights_file_is_checkpoint_mismatch(hf_clip_dir, tmp_path):
    folder = _copy_without(hf_clip_dir, tmp_path / "corrupt")
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointMismatch) as err:
        load_backbone(f"hf:{folder}", device="cpu")
    assert str(folder) in err.value.one_line()
