import json

import pytest
from transformers import AutoTokenizer

from calibclip.composite.clauses import format_tigr_text, parse_tigr_text
from calibclip.composite.rewriters.base import parse_answer
from calibclip.errors import ConfigError, DatasetLayoutError
from calibclip.llm.pairs import encode_pair, encode_pairs, read_pairs, split_pairs, target_text


def test_target_is_the_rest_of_the_line_and_parses_back(records_dir):
    pairs = read_pairs([f"{records_dir / 'en_train.jsonl'},{records_dir / 'zh_train.jsonl'}"])
    assert [p.lang for p in pairs] == ["en"] * 4 + ["zh"] * 4
    assert [p.text_id for p in pairs[:4]] == [p.text_id for p in pairs[4:]] == ["t0", "t1", "t2", "t3"]
    for pair in pairs:
        assert pair.target.startswith("Time: ") and pair.query not in pair.target.split(" | ")[0]
        assert f"{pair.query} | {pair.target}" == format_tigr_text(pair.gold)
        assert parse_answer(pair.query, pair.target) == pair.gold        # what the rewriter reads back


def test_target_uses_the_published_layout_for_chinese_labels():
    line = "一只猫 | 时间: 夜晚, 地点: 屋顶, 人物: 无 | 搜索意图: 复杂 | 短语优化: 一只猫 | 多智能体逻辑关系分析: -AND: < 一只猫 >, -NOT: < 狗 >"
    clauses = parse_tigr_text(line)
    assert target_text(clauses) == ("Time: 夜晚, place: 屋顶, person: 无 | Search intention: 复杂 | Phrase, word "
                                    "expression optimization: 一只猫 | Multi-agent logical relationship analysis: "
                                    "-AND: < 一只猫 >, -NOT: < 狗 >")


def test_heldout_keeps_a_query_and_its_translation_together(records_dir):
    pairs = read_pairs([records_dir / "en_train.jsonl", records_dir / "zh_train.jsonl"])
    train, held = split_pairs(pairs, 0.25, seed=3)
    assert len(held) == 2 and {p.lang for p in held} == {"en", "zh"} and len({p.text_id for p in held}) == 1
    assert not {p.text_id for p in held} & {p.text_id for p in train} and len(train) == 6
    assert split_pairs(pairs, 0.25, seed=3) == (train, held)                 # seeded
    assert split_pairs(pairs, 0.0, seed=3)[1] == []
    with pytest.raises(ConfigError, match="held-out share 1.0"):
        split_pairs(pairs, 1.0, seed=0)


def test_only_the_answer_and_end_token_are_trained(base_dir, records_dir):
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    pair = read_pairs([records_dir / "zh_train.jsonl"])[0]
    ids, labels = encode_pair(tokenizer, pair, "tuned")
    start = next(i for i, label in enumerate(labels) if label != -100)
    prompt = tokenizer.decode(ids[:start])
    assert prompt.startswith("<|im_start|>user\nRewrite the image-search query as a TIGR line. Write the clauses "
                             "in Chinese") and prompt.endswith(f"Query: {pair.query}\nAnswer:<|im_end|>\n"
                                                               "<|im_start|>assistant\n")
    assert labels[start:] == ids[start:] and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids[start:-1]) == pair.target


def test_too_long_pairs_are_left_out_and_bad_data_is_one_error(base_dir, records_dir, tmp_path, caplog):
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    pairs = read_pairs([records_dir / "en_train.jsonl"])
    lengths = sorted(len(encode_pair(tokenizer, p, "tuned")[0]) for p in pairs)
    assert len(encode_pairs(tokenizer, pairs, "tuned", lengths[1])) == 2
    assert "2 of 4 training pairs are longer than --max-len" in caplog.text
    with pytest.raises(ConfigError, match="every training pair is longer"):
        encode_pairs(tokenizer, pairs, "tuned", 5)
    with pytest.raises(DatasetLayoutError, match="training data not found"):
        read_pairs([tmp_path / "nope.jsonl"])
    odd = tmp_path / "queries.jsonl"
    odd.write_text(json.dumps({"text_id": "a", "text": "a dog"}) + "\n")
    with pytest.raises(DatasetLayoutError, match="cannot tell the language"):
        read_pairs([odd])
    with pytest.raises(ConfigError, match="no training data"):
        read_pairs([" , "])
