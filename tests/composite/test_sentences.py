import pytest

from calibclip.composite.rewriters.sentences import split_sentences


@pytest.mark.parametrize("text, sentences", [
    ("A man in a red coat. He has a dog! Does he? yes; no cats",
     ["A man in a red coat", "He has a dog", "Does he", "yes", "no cats"]),
    ("Mr. Lee and Dr. Park near St. Mary's, e.g. at 3.5 p.m. today. J. Smith waves.",
     ["Mr. Lee and Dr. Park near St. Mary's, e.g. at 3.5 p.m. today", "J. Smith waves"]),
    ("first line\nsecond line\n\n", ["first line", "second line"]),
    ("a 2.5 m tall man...  He smiles.", ["a 2.5 m tall man", "He smiles"]),
    ("  . ; ", []),
])
def test_english_sentences(text, sentences):
    assert split_sentences(text) == sentences


def test_chinese_sentences():
    assert split_sentences("一个女人。她穿着红色衣服；没有包！好吗？是的\n下一行", "zh") == [
        "一个女人", "她穿着红色衣服", "没有包", "好吗", "是的", "下一行"]
    # commas do not end a sentence, and English punctuation counts in Chinese text
    assert split_sentences("夜晚，一个男人;他跑步!", "zh") == ["夜晚，一个男人", "他跑步"]
