"""Training pairs for LoRA rewriting: input the raw query, target the rest of its TIGR line.

Records come from TIGR jsonl files (``en_*.jsonl`` / ``zh_*.jsonl``, the
language from the file name); the line is parsed with the project's TIGR
parser and the target written back with its formatter, so every target has
the one layout ``parse_answer`` reads (English labels, ``-AND: < .. >``).
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from calibclip.composite.clauses import format_tigr_text
from calibclip.composite.rewriters.base import build_prompt
from calibclip.composite.rewriters.hf import adds_special_tokens, chat_text
from calibclip.datasets.tigr import find_jsonl, read_queries
from calibclip.errors import ConfigError, DatasetLayoutError
from calibclip.types import Clauses

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pair:
    """One training / evaluation example."""

    text_id: str        # the record's id (a query and its translation share it)
    query: str          # the raw query (the model's input)
    target: str         # the rest of the TIGR line after "query | "
    lang: str           # "en" or "zh"
    gold: Clauses       # the parsed gold decomposition


def target_text(clauses: Clauses) -> str:
    """The TIGR line of ``clauses`` without its leading ``raw | ``: what the model learns to write."""
    return format_tigr_text(clauses)[len(clauses.raw) + 3:]


def read_pairs(paths: Sequence[str | Path]) -> list[Pair]:
    """Pairs from TIGR jsonl files (comma lists welcome); the language comes from each file's prefix."""
    files = [Path(p.strip()) for item in paths for p in str(item).split(",") if p.strip()]
    if not files:
        raise ConfigError("no training data given", "pass --data en_train.jsonl[,zh_train.jsonl]")
    pairs: list[Pair] = []
    for path in files:
        if not path.is_file():
            raise DatasetLayoutError(f"training data not found: {path}", "pass TIGR jsonl files, comma-separated")
        _, jsonl, lang = find_jsonl(path)
        if not jsonl.name.startswith(("en_", "zh_")):
            raise DatasetLayoutError(f"cannot tell the language of {path}", "name it en_*.jsonl or zh_*.jsonl")
        pairs += [Pair(q.text_id, q.clauses.raw, target_text(q.clauses), lang, q.clauses)
                  for q in read_queries(jsonl)]
    return pairs


def split_pairs(pairs: Sequence[Pair], heldout: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Shuffle with ``seed`` and hold out a share (0 ≤ heldout < 1) of the queries → (train, held-out).

    Pairs with the same text id (a query and its translation) or the same raw
    query stay on one side, so the held-out score is never a lookup.
    """
    if not 0 <= heldout < 1:
        raise ConfigError(f"held-out share {heldout} is not in [0, 1)", "e.g. --heldout 0.1")
    ids = sorted({p.text_id for p in pairs})
    random.Random(seed).shuffle(ids)
    held_ids = set(ids[:round(heldout * len(ids))])
    held_queries = {p.query for p in pairs if p.text_id in held_ids}
    held = [p for p in pairs if p.text_id in held_ids or p.query in held_queries]
    train = [p for p in pairs if p.text_id not in held_ids and p.query not in held_queries]
    random.Random(seed).shuffle(train)
    return train, held


def encode_pair(tokenizer: Any, pair: Pair, prompt_style: str) -> tuple[list[int], list[int]]:
    """Token ids of prompt + answer + end token, and labels that train on the answer only (-100 elsewhere)."""
    prompt = chat_text(tokenizer, build_prompt(pair.query, pair.lang, prompt_style))
    answer = f" {pair.target}" if adds_special_tokens(tokenizer) else pair.target  # no chat template: "Answer: ..."
    prompt_ids = tokenizer(prompt, add_special_tokens=adds_special_tokens(tokenizer))["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids


def encode_pairs(tokenizer: Any, pairs: Iterable[Pair], prompt_style: str,
                 max_len: int) -> list[tuple[list[int], list[int]]]:
    """Encode pairs; those longer than ``max_len`` tokens are left out (a cut target teaches a cut answer)."""
    if tokenizer.eos_token_id is None:
        raise ConfigError("the tokenizer has no end token", "set eos_token in the model's tokenizer_config.json")
    encoded = [encode_pair(tokenizer, p, prompt_style) for p in pairs]
    kept = [e for e in encoded if len(e[0]) <= max_len]
    if len(kept) < len(encoded):
        log.warning("%d of %d training pairs are longer than --max-len %d tokens and are left out",
                    len(encoded) - len(kept), len(encoded), max_len)
    if not kept:
        raise ConfigError(f"every training pair is longer than --max-len {max_len}", "raise --max-len")
    return kept
