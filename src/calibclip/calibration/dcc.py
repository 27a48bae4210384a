"""DCC: mask the general words the text encoder's end token leans on most, and re-encode the rest.

CalibCLIP (Kang et al., ACM MM 2025, DOI 10.1145/3746027.3755765) separates
general from discriminative concepts in a query: general concepts ("teddy",
"bear") capture the global meaning and drown the details that tell look-alike
images apart. Our reading (the public code kane2kang/CalibCLIP weighs token
features by attention × (1 − corpus frequency); we mask and re-encode):

* a word's prominence is the end token's last-layer attention on its content
  sub-tokens (``Backbone.text_tokens``: punctuation and special tokens never
  count; sub-tokens pooled by ``word_pool``);
* a word is *general* when it is frequent in a caption corpus
  (``word_stats``: document frequency ≥ ``min_df``);
* ``mask_select: general`` masks the top ``mask_ratio`` of the content words
  by attention × document frequency among the general ones. A word the model
  attends to that is rare (a colour in person captions, say) is never masked.
  ``attention`` (the most attended, no generality test), ``frequency`` (the
  most frequent) and ``random`` are the measured alternatives.

Function words and negations are never masked (dropping "without" would flip
the meaning) and at least one content word always survives. The end token is
kept because the tokenizer re-adds it to the masked text. Without any word
frequencies (no corpus, none carried by the backbone, fewer than
``word_stats.MIN_BATCH`` queries), ``general`` and ``frequency`` mask nothing
and say so once in the log.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from calibclip.backbones.base import Backbone, split_punctuation
from calibclip.calibration.checks import require_choice, require_int, require_number
from calibclip.calibration.presets import resolve_calibration
from calibclip.calibration.word_stats import MIN_BATCH, frequency_table, word_key
from calibclip.config import CalibrationConfig
from calibclip.errors import BadQuery

log = logging.getLogger(__name__)

MASK_SELECTIONS = ("general", "attention", "frequency", "random")
WORD_POOLS = ("max", "mean", "sum")

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
    lead, core, _ = split_punctuation(word)
    return (len(lead), len(lead) + len(core)) if core else (0, 0)


def is_content_word(word: str) -> bool:
    """True for a word DCC may mask: not punctuation-only, not an English/Chinese function word."""
    core = split_punctuation(word)[1].lower()
    return bool(core) and core not in STOP_WORDS_EN and core not in STOP_CHARS_ZH


def choose_masked(words: Sequence[str], attention: np.ndarray, mask_ratio: float, min_masked: int,
                  select: str = "attention", df: Mapping[str, float] | None = None, min_df: float = 0.0,
                  rng: np.random.Generator | None = None) -> list[int]:
    """Indices of the content words to mask, ties to the earlier word.

    ``select`` ranks the eligible content words: ``general`` by attention × document
    frequency among words with frequency ≥ ``min_df``; ``attention``; ``frequency``;
    ``random`` (``rng``). The count is ``mask_ratio`` of the content words (at least
    ``min_masked``), never all content words and never more than are eligible.
    """
    content = [i for i, w in enumerate(words) if is_content_word(w)]
    if len(content) <= 1:
        return []
    if select in ("general", "frequency") and df is None:
        return []
    freq = {i: float(df.get(word_key(words[i]), 0.0)) for i in content} if df is not None else {}
    eligible = [i for i in content if select != "general" or freq[i] >= min_df]
    scores = {"attention": lambda i: float(attention[i]), "general": lambda i: float(attention[i]) * freq[i],
              "frequency": lambda i: freq[i]}
    if select == "random":
        draws = (rng or np.random.default_rng(0)).random(len(words))
        scores["random"] = lambda i: float(draws[i])
    count = max(min_masked, int(mask_ratio * len(content) + 0.5))
    count = min(count, len(content) - 1, len(eligible))
    ranked = sorted(eligible, key=lambda i: (-scores[select](i), i))
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
    """Validate the DCC knobs of a resolved ``cfg`` (raises ``ConfigError`` naming the bad one)."""
    require_choice("mask_select", cfg.mask_select, MASK_SELECTIONS)
    require_number("mask_ratio", cfg.mask_ratio, 0.0, 1.0, "the default is 0.2", hi_open=True)
    require_int("min_masked", cfg.min_masked, 0, "the default is 1")
    require_number("min_df", cfg.min_df, 0.0, 1.0, "the default is 0.05 (in 5% of captions)")
    require_choice("word_pool", cfg.word_pool, WORD_POOLS)


@torch.no_grad()
def discriminate_texts(backbone: Backbone, texts: Sequence[str], cfg: CalibrationConfig | None = None,
                       batch_size: int = 256) -> DiscriminativeTexts:
    """Original and discriminative embeddings for ``texts``, batched (one attention pass per batch).

    ``cfg`` is resolved against the backbone's preset (unset knobs).
    """
    texts = check_texts(texts)
    cfg = resolve_calibration(cfg, backbone)
    check_dcc_config(cfg)
    df, source = frequency_table(backbone, cfg.dcc_corpus, texts)
    if df is None and cfg.mask_select in ("general", "frequency"):
        log.warning("DCC: no word frequencies (no dcc_corpus, none carried by %s, fewer than %d queries): "
                    "nothing is masked", backbone.spec.raw, MIN_BATCH)
    log.debug("DCC word frequencies from %s", source)
    rng = np.random.default_rng(cfg.random_seed)
    originals, masked_words, masked_texts = [], [], []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        tokens = backbone.text_tokens(chunk, pool=cfg.word_pool)
        originals.append(tokens.embedding.float().cpu())
        for text, words, attention in zip(chunk, tokens.words, tokens.word_attention):
            chosen = choose_masked(words, attention, cfg.mask_ratio, cfg.min_masked, cfg.mask_select, df,
                                   cfg.min_df, rng)
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
           "check_texts", "check_dcc_config", "STOP_WORDS_EN", "STOP_CHARS_ZH", "MASK_SELECTIONS", "WORD_POOLS"]
