"""Does a text tower lean on general words? What DCC's premise needs, measured on captions.

DCC assumes the end token's attention favours general concepts (frequent in a
caption corpus) and that those words drown the details. We measure (ours):

* ``spearman``: rank correlation between a content word's end-token attention
  (``Backbone.text_tokens``, max over its content sub-tokens) and its document
  frequency in the captions, over every content-word occurrence;
* ``top_is_general``: how often the most-attended content word is general
  (document frequency ≥ ``min_df``);
* ``dominated``: the share of captions whose most-attended content word holds
  at least ``DOMINATED_SHARE`` of the end token's content-word attention (the
  captions DCC's premise is about: one word drowns the rest);
* with images and identities (a person set): caption→image R@1 of the
  dominated captions as given, and with one word masked — the most attended,
  a random one, the most general by attention × frequency. Where the premise
  holds, masking the dominating word costs no more than masking a random word.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import torch

from calibclip.backbones.base import Backbone
from calibclip.calibration.dcc import choose_masked, is_content_word, mask_text
from calibclip.calibration.word_stats import document_frequency, word_key
from calibclip.evaluation.metrics import spearman

MASKINGS = ("mask_top", "mask_random", "mask_general")
DOMINATED_SHARE = 0.5  # ours, fixed before measuring


@dataclass
class TextStats:
    """The text side's numbers (R@1 values in percent, None without images)."""

    captions: int
    spearman: float
    top_is_general: float
    dominated: float
    recall_at_1: dict[str, float] = field(default_factory=dict)

    def masking_cost(self, name: str) -> float | None:
        """R@1 of the dominated captions lost by masking ``name`` (None without a retrieval measurement)."""
        if "original" not in self.recall_at_1:
            return None
        return self.recall_at_1["original"] - self.recall_at_1[name]


def _attention_frequency(backbone: Backbone, captions: Sequence[str], df: Mapping[str, float],
                         min_df: float) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, list]:
    """Attention and frequency of every content-word occurrence, the top-word generality rate, which captions
    are dominated by one word, the tokens."""
    attention, frequency, general, dominated, tokens = [], [], [], [], []
    for start in range(0, len(captions), 256):
        batch = backbone.text_tokens(captions[start:start + 256])
        for words, weights in zip(batch.words, batch.word_attention):
            content = [i for i, w in enumerate(words) if is_content_word(w) and weights[i] > 0]
            dominated.append(bool(content) and max(weights[i] for i in content) >=
                             DOMINATED_SHARE * sum(weights[i] for i in content))
            if not content:
                continue
            attention += [float(weights[i]) for i in content]
            frequency += [df.get(word_key(words[i]), 0.0) for i in content]
            top = max(content, key=lambda i: (weights[i], -i))
            general.append(df.get(word_key(words[top]), 0.0) >= min_df)
        tokens += list(zip(batch.words, batch.word_attention))
    rate = 100.0 * float(np.mean(general)) if general else 0.0
    return np.array(attention), np.array(frequency), rate, np.array(dominated, dtype=bool), tokens


def _masked(captions: Sequence[str], tokens: list, df: Mapping[str, float], select: str, min_df: float,
            seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for text, (words, weights) in zip(captions, tokens):
        chosen = choose_masked(words, weights, 0.0, 1, select, df, min_df if select == "general" else 0.0, rng)
        out.append(mask_text(text, words, chosen[:1])[0])
    return out


def _recall_at_1(texts: torch.Tensor, images: torch.Tensor, query_ids: np.ndarray, image_ids: np.ndarray) -> float:
    best = (texts.float() @ images.float().T).argmax(dim=1).numpy()  # ties: the lower index, as everywhere
    return 100.0 * float(np.mean(image_ids[best] == query_ids))


@torch.no_grad()
def text_stats(backbone: Backbone, captions: Sequence[str], min_df: float = 0.05, seed: int = 0,
               images: torch.Tensor | None = None, query_ids: np.ndarray | None = None,
               image_ids: np.ndarray | None = None) -> TextStats:
    """The text statistics over ``captions``; with gallery ``images`` (N, D) and ids, the masking R@1s."""
    captions = list(captions)
    df = document_frequency(captions)
    attention, frequency, top_general, dominated, tokens = _attention_frequency(backbone, captions, df, min_df)
    stats = TextStats(captions=len(captions), spearman=spearman(attention, frequency), top_is_general=top_general,
                      dominated=100.0 * float(dominated.mean()) if len(dominated) else 0.0)
    if images is None or query_ids is None or image_ids is None or not dominated.any():
        return stats
    chosen = np.flatnonzero(dominated)
    subset = [captions[i] for i in chosen]
    variants = {"original": subset}
    for name, select in zip(MASKINGS, ("attention", "random", "general")):
        variants[name] = _masked(subset, [tokens[i] for i in chosen], df, select, min_df, seed)
    stats.recall_at_1 = {name: _recall_at_1(backbone.embed_texts(texts), images, query_ids[chosen], image_ids)
                         for name, texts in variants.items()}
    return stats


__all__ = ["TextStats", "text_stats", "MASKINGS", "DOMINATED_SHARE"]
