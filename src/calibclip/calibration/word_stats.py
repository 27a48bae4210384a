"""How general a word is: its document frequency over a caption corpus (DCC's generality test).

CalibCLIP's public code scores a token's generality by its frequency in a
corpus (kane2kang/CalibCLIP ``dcc.py``: "higher frequency tokens are more
likely to be general concepts"). Ours is the share of captions that contain
the word (document frequency), so one long caption repeating a word does not
make it general. The corpus, in order of precedence: ``dcc_corpus`` (a text
file, one caption per line), the table a backbone carries (``tiny`` models
store the frequencies of their own training captions), or the batch of queries
being encoded when it is large enough to say anything (≥ ``MIN_BATCH``).
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any, Iterable, Sequence

from calibclip.backbones.base import split_punctuation, split_words
from calibclip.errors import ConfigError

log = logging.getLogger(__name__)

MIN_BATCH = 50  # fewer queries than this say nothing reliable about which words are general


def word_key(word: str) -> str:
    """The form frequencies are counted under: the lowercased core (punctuation stripped)."""
    return split_punctuation(word)[1].lower()


def document_frequency(captions: Iterable[str]) -> dict[str, float]:
    """Word → share of ``captions`` containing it (each caption counts a word once)."""
    counts: dict[str, int] = {}
    total = 0
    for caption in captions:
        total += 1
        for key in {word_key(w) for w in split_words(caption)} - {""}:
            counts[key] = counts.get(key, 0) + 1
    return {k: c / total for k, c in sorted(counts.items())} if total else {}


@functools.lru_cache(maxsize=8)
def _corpus_df(path: str, mtime: float) -> dict[str, float]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return document_frequency(line for line in lines if line.strip())


def corpus_frequency(path: str | Path) -> dict[str, float]:
    """Document frequency over a captions file (one caption per line), cached per file version."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"dcc_corpus file not found: {path}", "pass a text file with one caption per line")
    return _corpus_df(str(path), path.stat().st_mtime)


def frequency_table(backbone: Any, corpus: str | None, texts: Sequence[str]) -> tuple[dict[str, float] | None, str]:
    """The document-frequency table DCC uses and where it came from (``None, "none"`` if there is none)."""
    if corpus:
        return corpus_frequency(corpus), f"corpus {corpus}"
    carried = getattr(backbone, "word_df", None)
    if carried:
        return dict(carried), "backbone"
    if len(texts) >= MIN_BATCH:
        return document_frequency(texts), "queries"
    return None, "none"


__all__ = ["MIN_BATCH", "word_key", "document_frequency", "corpus_frequency", "frequency_table"]
