import numpy as np
import pytest
import torch

from calibclip.backbones.tiny_model import EOT
from calibclip.calibration.dcc import choose_masked, discriminate_texts, is_content_word, mask_text
from calibclip.config import CalibrationConfig
from calibclip.errors import BadQuery, ConfigError


def test_top_attention_content_word_is_masked_function_words_never():
    words = ["a", "man", "in", "a", "red", "coat"]
    attention = np.array([0.5, 0.1, 0.9, 0.2, 0.3, 0.25])  # "in" and "a" lead but are function words
    assert choose_masked(words, attention, mask_ratio=0.2, min_masked=1) == [4]  # "red"
    assert choose_masked(words, attention, mask_ratio=0.5, min_masked=1) == [4, 5]  # 0.5·3 → 2


def test_never_all_content_words_and_ties_go_to_the_earlier_word():
    assert choose_masked(["a", "man"], np.array([0.1, 0.9]), 0.9, 3) == []
    assert choose_masked(["red", "blue", "coat"], np.array([0.4, 0.4, 0.2]), 0.9, 1) == [0, 1]


@pytest.mark.parametrize("word,content", [("Coat,", True), ("the", False), ("Without", False), ("—", False),
                                          ("的", False), ("红", True), ("not", False), ("bag.", True)])
def test_content_words(word, content):
    assert is_content_word(word) is content


def test_mask_text_keeps_punctuation_and_chinese_spacing():
    assert mask_text("A man, in a red coat.", ["A", "man,", "in", "a", "red", "coat."], [1, 5]) == \
        ("A , in a red .", ["man", "coat"])
    text = "一个穿着红色外套的女人"
    assert mask_text(text, list(text), [4]) == ("一个穿着色外套的女人", ["红"])


@torch.no_grad()
def test_discriminate_texts_masks_the_highest_attention_word_and_re_encodes(tiny_backbone):
    texts = ["a woman in a blue coat with a black bag", "the man wearing white shoes and green pants", "a dog"]
    cfg = CalibrationConfig(mask_ratio=0.2, min_masked=1, mask_select="attention")
    out = discriminate_texts(tiny_backbone, texts, cfg, batch_size=2)
    tokens = tiny_backbone.text_tokens(texts)
    for i in range(2):
        content = [j for j, w in enumerate(tokens.words[i]) if is_content_word(w)]
        top = max(content, key=lambda j: (tokens.word_attention[i][j], -j))
        assert out.masked_words[i] == [tokens.words[i][top]]
    assert out.masked_words[2] == [] and out.masked_texts[2] == "a dog"  # one content word: kept
    torch.testing.assert_close(out.original, tiny_backbone.embed_texts(texts), atol=1e-6, rtol=0)
    torch.testing.assert_close(out.discriminative, tiny_backbone.embed_texts(out.masked_texts), atol=1e-6, rtol=0)
    assert not torch.allclose(out.discriminative[:2], out.original[:2], atol=1e-3)
    torch.testing.assert_close(out.discriminative[2], out.original[2], atol=1e-6, rtol=0)


def test_masked_text_still_ends_with_the_end_token(tiny_backbone):
    texts = ["a woman in a blue coat with a black bag " * 10]  # longer than the context: truncated
    out = discriminate_texts(tiny_backbone, texts, CalibrationConfig(mask_ratio=0.3, mask_select="attention"))
    ids, eot = tiny_backbone.tokenize(out.masked_texts)
    assert int(ids[0, eot[0]]) == EOT and int(eot[0]) == tiny_backbone.context_length - 1
    assert len(out.masked_words[0]) == round(0.3 * 50)  # 5 content words × 10 repeats


@pytest.mark.parametrize("texts", [[], ["a man", "   "], [""]])
def test_blank_queries_are_refused(tiny_backbone, texts):
    with pytest.raises(BadQuery):
        discriminate_texts(tiny_backbone, texts, CalibrationConfig())


@pytest.mark.parametrize("field,value", [("mask_ratio", 1.0), ("mask_select", "loudest"), ("min_masked", -1),
                                         ("word_pool", "median"), ("min_df", 2.0)])
def test_bad_dcc_knobs(tiny_backbone, field, value):
    with pytest.raises(ConfigError, match=field):
        discriminate_texts(tiny_backbone, ["a man"], CalibrationConfig(**{field: value}))


def test_general_selection_masks_frequent_attended_words_never_rare_ones():
    words = ["a", "woman", "in", "a", "red", "coat."]
    attention = np.array([0.0, 0.3, 0.0, 0.0, 0.9, 0.4])  # the colour is the most attended
    df = {"woman": 0.5, "red": 0.04, "coat": 0.3}           # ... and rare: discriminative, kept
    assert choose_masked(words, attention, 0.2, 1, "general", df, min_df=0.05) == [1]  # 0.3·0.5 > 0.4·0.3
    assert choose_masked(words, attention, 0.2, 1, "attention") == [4]
    assert choose_masked(words, attention, 0.2, 1, "frequency", df) == [1]
    assert choose_masked(words, attention, 0.9, 1, "general", df, min_df=0.05) == [1, 5]  # never "red"
    assert choose_masked(words, attention, 0.2, 1, "general", None) == []  # no frequencies: nothing
    draws = {tuple(choose_masked(words, attention, 0.2, 1, "random", rng=np.random.default_rng(s)))
             for s in range(20)}
    assert draws == {(1,), (4,), (5,)}  # random: any one content word


def test_without_word_frequencies_general_dcc_masks_nothing(tiny_backbone, caplog):
    out = discriminate_texts(tiny_backbone, ["a woman in a blue coat", "a man in red"], CalibrationConfig())
    assert out.masked_words == [[], []] and "no word frequencies" in caplog.text
    batch = ["a woman in a blue coat"] + ["a woman in a coat"] * 59  # ≥ 50 queries: their own frequencies
    out = discriminate_texts(tiny_backbone, batch, CalibrationConfig())
    assert out.masked_words[0] and "blue" not in out.masked_words[0]  # blue is in 1 of 60: below min_df


def test_word_attention_reads_content_tokens_only_and_pools(tiny_backbone):
    text = "a man, in red."
    tokens = tiny_backbone.text_tokens([text], pool="sum")
    attention = tokens.token_attention[0]
    # tokens: <sot> a man , in red . <eot>: "man," is "man" only, "red." is "red" only
    assert tokens.word_attention[0][1] == pytest.approx(float(attention[2]), abs=1e-7)
    assert tokens.word_attention[0][3] == pytest.approx(float(attention[5]), abs=1e-7)
    two = tiny_backbone.text_tokens(["a t-shirt"], pool="max")  # "t-shirt" → t, -, shirt (the "-" is inside)
    assert two.word_attention[0][1] == pytest.approx(float(two.token_attention[0, 2:5].max()), abs=1e-7)
