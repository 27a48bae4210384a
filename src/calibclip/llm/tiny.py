"""``tiny-qwen3``: a demonstration causal LM of the Qwen3 architecture, built here from nothing.

``pretrain_tiny`` writes, in a few minutes on two CPU cores::

    <out>/base/          Qwen3ForCausalLM (transformers Qwen3Config, ~0.5M parameters) + its tokenizer
    <out>/data/          en_train.jsonl, zh_train.jsonl: TIGR records for ``calibclip llm finetune``
    <out>/tiny_lm.json   what was built, from which seeds, and how long it took

The tokenizer is a byte-level BPE trained with ``tokenizers`` on the synthetic
corpus (English and Chinese), with a Qwen-style chat template. The corpus is
synthetic scene captions and synthetic TIGR lines (``datasets.synthetic_tigr``
queries written by ``datasets.tigr_phrases``); the fine-tuning records are
further queries of a different random stream. Like ``tiny``, this model only
knows our generator's language: it demonstrates the chain, not real rewriting.
"""
from __future__ import annotations

import dataclasses
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibclip.composite.clauses import format_tigr_text
from calibclip.composite.rewriters.base import PROMPTS, build_prompt
from calibclip.config import to_dict
from calibclip.datasets.scene_graph import random_scene
from calibclip.datasets.synthetic_tigr import _uuid, sample_query
from calibclip.datasets.tigr_phrases import caption, query_clauses
from calibclip.errors import ConfigError
from calibclip.llm.trainer import LoopConfig, fit

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
LANGS = ("en", "zh")


@dataclass
class TinyLMConfig:
    """Architecture, corpus and pre-training of the demonstration LM."""

    seed: int = 0                  # corpus streams (10000+seed, 20000+seed), initialisation, data order
    vocab_size: int = 1024         # byte-level BPE vocabulary, special tokens included
    hidden_size: int = 96          # Qwen3 hidden size
    layers: int = 4                # decoder layers
    heads: int = 4                 # attention heads (head_dim = hidden_size / heads)
    kv_heads: int = 2              # key/value heads (grouped-query attention, as Qwen3)
    intermediate_size: int = 256   # SwiGLU width
    max_positions: int = 512       # context length
    init_range: float = 0.02       # std of the random initial weights (Qwen3's initializer_range)
    corpus_queries: int = 1500     # synthetic queries in the corpus (one TIGR line per language each)
    corpus_captions: int = 1000    # synthetic scenes in the corpus (one caption per language each)
    block: int = 128               # packed pre-training sequence length
    finetune_queries: int = 1000   # records per language written to data/ for the LoRA step
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(epochs=2, lr=1e-3, batch_size=16,
                                                                weight_decay=0.01, keep=1))

    def __post_init__(self) -> None:
        if self.hidden_size % self.heads or self.heads % self.kv_heads:
            raise ConfigError(f"tiny LM: hidden {self.hidden_size}, heads {self.heads}, kv heads {self.kv_heads}",
                              "hidden_size must divide by heads, heads by kv_heads")


def tigr_record(text_id: str, query: dict[str, Any], lang: str) -> dict[str, Any]:
    """A TIGR jsonl record (no images) for one ``sample_query`` query."""
    text = format_tigr_text(query_clauses(query["subject"], query["and"], query["not"], lang))
    return {"text_id": text_id, "text": text, "image_ids": [], "image_xiangsi_ids": []}



def corpus(cfg: TinyLMConfig) -> list[str]:
    """Pre-training texts: TIGR lines and scene captions, English and Chinese."""
    rng = random.Random(10_000 + cfg.seed)
    queries = [sample_query(rng) for _ in range(cfg.corpus_queries)]
    lines = [tigr_record("", q, lang)["text"] for q in queries for lang in LANGS]
    scenes = [random_scene(rng) for _ in range(cfg.corpus_captions)]
    return lines + [caption(s, lang) for s in scenes for lang in LANGS]


def prompt_texts(n: int = 100) -> list[str]:
    """Every prompt style in both languages, ``n`` times each: the tokenizer learns their words too."""
    return [build_prompt(f"query {i}", lang, style) for i in range(n) for lang in LANGS for style in PROMPTS]


def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` with the chat template; end token ``<|im_end|>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        additional_special_tokens=["<|im_start|>"])
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_model(cfg: TinyLMConfig, tokenizer: Any) -> Any:
    """A randomly initialised ``Qwen3ForCausalLM`` (seeded) whose generation stops at ``<|im_end|>``."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_hidden_layers=cfg.layers,
                         num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads,
                         head_dim=cfg.hidden_size // cfg.heads, intermediate_size=cfg.intermediate_size,
                         max_position_embeddings=cfg.max_positions, tie_word_embeddings=True,
                         initializer_range=cfg.init_range,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=None)
    torch.manual_seed(cfg.seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def pack(tokenizer: Any, texts: list[str], block: int) -> list[tuple[list[int], list[int]]]:
    """Concatenate the texts (each ended by ``<|endoftext|>``) and cut blocks of ``block`` tokens."""
    stream: list[int] = []
    for text in texts:
        stream += tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.pad_token_id]
    blocks = [stream[i:i + block] for i in range(0, len(stream) - block + 1, block)]
    return [(b, b) for b in blocks]


def write_finetune_data(out: Path, cfg: TinyLMConfig) -> dict[str, str]:
    """``data/en_train.jsonl`` and ``data/zh_train.jsonl``: the same fresh queries (and text ids) in both languages."""
    rng = random.Random(20_000 + cfg.seed)
    queries = [(_uuid(rng), sample_query(rng)) for _ in range(cfg.finetune_queries)]
    (out / "data").mkdir(parents=True, exist_ok=True)
    paths = {}
    for lang in LANGS:
        path = out / "data" / f"{lang}_train.jsonl"
        lines = [json.dumps(tigr_record(text_id, q, lang), ensure_ascii=False) for text_id, q in queries]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths[lang] = str(path)
    return paths


def pretrain_tiny(out_dir: str | Path, cfg: TinyLMConfig | None = None, resume: bool = False) -> dict[str, Any]:
    """Build the tokenizer, pre-train tiny-qwen3 on the synthetic corpus, write base/ and data/ → summary.

    Example:
        >>> summary = pretrain_tiny("runs/tiny-qwen3")
        >>> summary["base"]
        'runs/tiny-qwen3/base'
    """
    from calibclip.composite.rewriters.hf import quiet_progress_bars

    quiet_progress_bars()
    cfg = cfg or TinyLMConfig()
    started, out = time.monotonic(), Path(out_dir)
    if (out / "base" / "config.json").is_file() and not resume:
        raise ConfigError(f"{out} already holds a tiny LM", "choose a new --out, or pass --resume")
    texts = corpus(cfg)
    tokenizer = train_tokenizer(texts + prompt_texts(), cfg.vocab_size)
    model = build_model(cfg, tokenizer)
    examples = pack(tokenizer, texts, cfg.block)
    loop = dataclasses.replace(cfg.loop, seed=cfg.seed)
    history = fit(model, examples, loop, out / "pretrain", tokenizer.pad_token_id, resume=resume)
    model.save_pretrained(out / "base")
    tokenizer.save_pretrained(out / "base")
    summary = {"base": str(out / "base"), "data": write_finetune_data(out, cfg),
               "parameters": sum(p.numel() for p in model.parameters()), "vocab": len(tokenizer),
               "corpus_texts": len(texts), "blocks": len(examples), "history": history,
               "seconds": round(time.monotonic() - started, 1)}
    (out / "tiny_lm.json").write_text(json.dumps({**summary, "config": to_dict(cfg)}, indent=1) + "\n",
                                      encoding="utf-8")
    return summary
