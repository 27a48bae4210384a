"""Fixtures for the LLM tests: a random tiny Qwen3 saved as a local model folder, and TIGR records."""
import json
import random

import pytest

from calibclip.datasets.synthetic_tigr import sample_query
from calibclip.llm.pairs import read_pairs
from calibclip.llm.tiny import TinyLMConfig, build_model, prompt_texts, tigr_record, train_tokenizer

# a random Qwen3 small enough for CPU tests; a wide initialisation lets LoRA alone memorise a few lines
TEST_LM = TinyLMConfig(vocab_size=1000, hidden_size=64, layers=2, heads=2, kv_heads=1, intermediate_size=128,
                       init_range=0.3)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Two threads on a shared two-core machine are ten times slower than one for models this small."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def records_dir(tmp_path_factory):
    """``en_train.jsonl`` / ``zh_train.jsonl`` (4 queries, the same text ids) and a 1-query ``en_unseen.jsonl``."""
    out = tmp_path_factory.mktemp("records")
    rng = random.Random(14)
    queries = [(f"t{i}", sample_query(rng)) for i in range(5)]
    for lang in ("en", "zh"):
        lines = [json.dumps(tigr_record(i, q, lang), ensure_ascii=False) for i, q in queries[:4]]
        (out / f"{lang}_train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    unseen = dict(tigr_record(*queries[4], "en"), image_ids=["img-1"])
    (out / "en_unseen.jsonl").write_text(json.dumps(unseen) + "\n", encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory, records_dir):
    """A randomly initialised tiny Qwen3 + byte-level BPE tokenizer with a chat template, saved like a checkpoint."""
    pairs = read_pairs([records_dir / "en_train.jsonl", records_dir / "zh_train.jsonl"])
    tokenizer = train_tokenizer([f"{p.query} | {p.target}" for p in pairs] * 20 + prompt_texts(5),
                                TEST_LM.vocab_size)
    model = build_model(TEST_LM, tokenizer)
    out = tmp_path_factory.mktemp("tiny_qwen3")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
