"""DCC: mask the words the text encoder's end token leans on most, and re-encode the rest.

Training-free reading of CalibCLIP's text calibration (Kang et al., ACM MM
2025, DOI 10.1145/3746027.3755765): the end (EOT) token's last-layer attention
over words singles out the general, dominant concepts of a query ("woman",
"coat"); removing the top ones leaves an embedding that weighs the
discriminative details. Only content words are candidates: function words and
negations are never masked (dropping "without" would flip the meaning), and at
least one content word always survives. The end token is kept because the
tokenizer re-adds it to the masked text.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from calibclip.backbones.base import Backbone
from calibclip.calibration.checks import require_int, require_number
from calibclip.config import CalibrationConfig
from calibclip.errors import BadQuery

STOP_WORDS_EN = frozenset("""
a an the this that these those some any each every another such
in on at of with without to from for by about into onto over under above below near behind beside
between around through across along against among up down off out inside outside upon via per
and or but nor so yet as than then also too very just while whose which who whom what where when
he she it they him her his hers its their theirs them i me my we us our you your one ones there here
is are was were be been being am has have had having do does did can could will would shall should
may might must not no none isn't aren't doesn't don't s 's
""".split())
STOP_CHARS_ZH = frozenset("的地得了着过在是和与及或也都很一个位名件条双只他她它们这那其有把被给从对向于而且并就还又不没无非")


@dataclass(frozen=True)
class DiscriminativeTexts:
    """Both embeddings of a batch of texts, and what was masked.

    Attributes:
        original: (N, D) L2-normalised embedding of the texts as given.
        discriminative: (N, D) L2-normalised embedding of the masked texts.
        masked_words: per text, the removed words (surrounding punctuation stripped).
        masked_texts: per text, the text that was re-encoded.
    """

    original: torch.Tensor
    discriminative: torch.Tensor
    masked_words: list[list[str]]
    masked_texts: list[str]


def check_texts(texts: Sequence[str]) -> list[str]:
    """Reject a missing or blank query with one line saying which one."""
    texts = list(texts)
    if not texts:
        raise BadQuery("no query text given", "pass at least one non-empty query")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise BadQuery(f"query {i} is empty", "every query needs at least one word")
    return texts


def _core(word: str) -> tuple[int, int]:
    """Span of ``word`` without leading/trailing punctuation and symbols."""
    keep = [i for i, ch in enumerate(word) if unicodedata.category(ch)[0] not in "PS"]
    return (keep[0], keep[-1] + 1) if keep else (0, 0)


def is_content_word(word: str) -> bool:
    """True for a word DCC may mask: not punctuation-only, not an English/Chinese function word."""
    start, stop = _core(word)
    core = word[start:stop].lower()
    return bool(core) and core not in STOP_WORDS_EN and core not in STOP_CHARS_ZH


def choose_masked(words: Sequence[str], attention: np.ndarray, mask_ratio: float, min_masked: int) -> list[int]:
    """Indices of the content words to mask: the top ``mask_ratio`` by attention, ties to the earlier word.

    At least ``min_masked`` and never all content words (a text with one content word keeps it).
    """
    content = [i for i, w in enumerate(words) if is_content_word(w)]
    if len(content) <= 1:
        return []
    count = max(min_masked, int(mask_ratio * len(content) + 0.5))
    count = min(count, len(content) - 1)
    ranked = sorted(content, key=lambda i: (-float(attention[i]), i))
    return sorted(ranked[:count])


def mask_text(text: str, words: Sequence[str], masked: Sequence[int]) -> tuple[str, list[str]]:
    """Remove the chosen words' cores from ``text`` (punctuation and spacing of the rest stay)."""
    spans, pos = [], 0
    for word in words:
        at = text.index(word, pos)
        spans.append((at, at + len(word)))
        pos = at + len(word)
    out, removed, last = [], [], 0
    for i in masked:
        start, stop = _core(words[i])
        begin, end = spans[i][0] + start, spans[i][0] + stop
        out.append(text[last:begin])
        removed.append(text[begin:end])
        last = end
    out.append(text[last:])
    return " ".join("".join(out).split()), removed


def check_dcc_config(cfg: CalibrationConfig) -> None:
    """Validate the DCC knobs of ``cfg`` (raises ``ConfigError`` naming the bad one)."""
    require_number("mask_ratio", cfg.mask_ratio, 0.0, 1.0, "the default is 0.2", hi_open=True)
    require_int("min_masked", cfg.min_masked, 0, "the default is 1")


@torch.no_grad()
def discriminate_texts(backbone: Backbone, texts: Sequence[str], cfg: CalibrationConfig,
                       batch_size: int = 256) -> DiscriminativeTexts:
    """Original and discriminative embeddings for ``texts``, batched (one attention pass per batch)."""
    texts = check_texts(texts)
    check_dcc_config(cfg)
    originals, masked_words, masked_texts = [], [], []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        tokens = backbone.text_tokens(chunk)
        originals.append(tokens.embedding.float().cpu())
        for text, words, attention in zip(chunk, tokens.words, tokens.word_attention):
            chosen = choose_masked(words, attention, cfg.mask_ratio, cfg.min_masked)
            masked, removed = mask_text(text, words, chosen)
            masked_texts.append(masked)
            masked_words.append(removed)
    original = torch.cat(originals)
    discriminative = _reencode_masked(backbone, original, masked_texts, masked_words, batch_size)
    return DiscriminativeTexts(original=original, discriminative=discriminative,
                               masked_words=masked_words, masked_texts=masked_texts)


def _reencode_masked(backbone: Backbone, original: torch.Tensor, masked_texts: list[str],
                     masked_words: list[list[str]], batch_size: int) -> torch.Tensor:
    """Encode only the texts that lost a word; a text with nothing masked keeps its original embedding."""
    changed = [i for i, removed in enumerate(masked_words) if removed]
    discriminative = original.clone()
    if changed:
        discriminative[changed] = backbone.embed_texts([masked_texts[i] for i in changed], batch_size)
    return discriminative


__all__ = ["DiscriminativeTexts", "discriminate_texts", "choose_masked", "mask_text", "is_content_word",
           "check_texts", "check_dcc_config", "STOP_WORDS_EN", "STOP_CHARS_ZH"]
