"""Frozen records passed between layers (backbones → calibration/composite → search/eval)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass(frozen=True)
class BackboneSpec:
    """A parsed backbone spec string such as ``openclip:ViT-B-16:openai``.

    ``weights`` is a pretrained tag, a local path, or ``"none"`` for random
    initialisation (tests and benchmarks); ``None`` means the family default.
    """

    family: str
    arch: str | None = None
    weights: str | None = None
    raw: str = ""

    @property
    def random_init(self) -> bool:
        return self.weights == "none"


@dataclass(frozen=True)
class ImageTokens:
    """What CVE needs from a ViT: the input of the last block and its CLS attention.

    Attributes:
        hidden: (N, L, W) token states entering the last transformer block
            (prefix tokens first, then the patch grid in row-major order).
        cls_attention: (N, L) the CLS query's attention over all L keys in the
            last block, softmax probabilities averaged over heads.
        grid: (rows, cols) of the patch grid; rows * cols == L - num_prefix.
        num_prefix: number of non-patch tokens at the front (1: the CLS token).
    """

    hidden: "torch.Tensor"
    cls_attention: "torch.Tensor"
    grid: tuple[int, int]
    num_prefix: int = 1


@dataclass(frozen=True)
class TextTokens:
    """What DCC needs from a text encoder: the end token's attention over words.

    Attributes:
        words: per text, the words the text was split into (``split_words``).
        word_attention: per text, float array (len(words),): the end token's
            last-layer attention summed over each word's tokens, averaged over
            heads; words cut off by truncation get 0.
        embedding: (N, D) L2-normalised text embedding from the same forward
            pass; equals ``encode_text(tokenize(texts))``.
        token_attention: (N, T) raw end-token attention over token positions.
        eot_index: (N,) position of the end (EOT/CLS-pooled) token.
    """

    words: list[list[str]]
    word_attention: list["np.ndarray"]
    embedding: "torch.Tensor"
    token_attention: "torch.Tensor"
    eot_index: "torch.Tensor"


@dataclass(frozen=True)
class Clauses:
    """A decomposed query (CsdCLIP): what to search for and what to avoid.

    Attributes:
        raw: the query as the user typed it.
        optimized: the rewritten query ("Phrase, word expression optimization").
        and_clauses: clauses every relevant image must satisfy.
        not_clauses: things a relevant image must not show.
        time/place/person/intention: the TIGR analysis fields ("none" if absent).
    """

    raw: str
    optimized: str
    and_clauses: tuple[str, ...] = ()
    not_clauses: tuple[str, ...] = ()
    time: str = "none"
    place: str = "none"
    person: str = "none"
    intention: str = "complex"
    extra: dict = field(default_factory=dict, compare=False, hash=False)
