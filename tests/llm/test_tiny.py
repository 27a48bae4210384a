import json

import pytest

from calibclip.composite.clauses import parse_tigr_text
from calibclip.errors import ConfigError
from calibclip.llm.tiny import TinyLMConfig, pretrain_tiny
from calibclip.llm.trainer import LoopConfig
from calibclip.llm.weights import load_model


def test_pretrain_tiny_writes_a_loadable_qwen3_and_tigr_training_data(tmp_path):
    cfg = TinyLMConfig(vocab_size=500, hidden_size=32, layers=1, heads=2, kv_heads=1, intermediate_size=64,
                       corpus_queries=30, corpus_captions=10, block=64, finetune_queries=5,
                       loop=LoopConfig(epochs=2, lr=3e-3, batch_size=8))
    summary = pretrain_tiny(tmp_path, cfg)
    assert summary["history"][-1]["loss"] < summary["history"][0]["loss"] and summary["blocks"] > 8
    model, tokenizer, _ = load_model(tmp_path / "base")
    assert type(model).__name__ == "Qwen3ForCausalLM" and model.config.num_hidden_layers == 1
    assert tokenizer.eos_token == "<|im_end|>" and model.generation_config.eos_token_id == tokenizer.eos_token_id
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                         add_generation_prompt=True)
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    line = "一个穿红色连衣裙的女人 | Time: none"
    assert tokenizer.decode(tokenizer(line)["input_ids"]) == line                     # byte-level: lossless
    records = {lang: [json.loads(x) for x in (tmp_path / "data" / f"{lang}_train.jsonl").read_text().splitlines()]
               for lang in ("en", "zh")}
    assert [r["text_id"] for r in records["en"]] == [r["text_id"] for r in records["zh"]] and len(records["en"]) == 5
    assert all(parse_tigr_text(r["text"]).and_clauses for rs in records.values() for r in rs)
    assert json.loads((tmp_path / "tiny_lm.json").read_text())["config"]["hidden_size"] == 32
    with pytest.raises(ConfigError, match="already holds a tiny LM"):
        pretrain_tiny(tmp_path, cfg)


def test_bad_tiny_shape_is_a_config_error():
    with pytest.raises(ConfigError, match="hidden 30, heads 4"):
        TinyLMConfig(hidden_size=30, heads=4)
