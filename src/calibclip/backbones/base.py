"""The one interface every backbone adapter implements (DESIGN "Backbone plug-in interface").

Adapters wrap a model family and know nothing of calibration or composite
search. The token-level hooks are generic here: an adapter only says where its
last vision block and its text attention are (``_vit_parts`` /
``_text_attention``) and this class does the rest, so CVE and DCC work the same
way over every ViT family.
"""
from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from calibclip.errors import NotApplicable
from calibclip.types import BackboneSpec, ImageTokens, TextTokens

TextBatch = Any  # whatever the adapter's tokenizer returns; only the same adapter reads it

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


_POOLS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "max": lambda t: t.max(), "mean": lambda t: t.mean(), "sum": lambda t: t.sum()}


def split_punctuation(word: str) -> tuple[str, str, str]:
    """(leading punctuation/symbols, core, trailing punctuation/symbols) of a word; core may be empty."""
    keep = [i for i, ch in enumerate(word) if unicodedata.category(ch)[0] not in "PS"]
    if not keep:
        return word, "", ""
    return word[:keep[0]], word[keep[0]:keep[-1] + 1], word[keep[-1] + 1:]


def split_words(text: str) -> list[str]:
    """Split a caption into words: whitespace-separated, every CJK character its own word."""
    words: list[str] = []
    for chunk in text.split():
        buf = ""
        for ch in chunk:
            if _CJK.match(ch):
                if buf:
                    words.append(buf)
                    buf = ""
                words.append(ch)
            else:
                buf += ch
        if buf:
            words.append(buf)
    return words


@dataclass
class VitParts:
    """The pieces of a pre-LN ViT needed to recompute the last block's CLS output.

    The block is ``x = x + out_proj(attn(ln_1(x))); x = x + mlp(ln_2(x))`` and
    ``head`` maps the CLS state to the normalised-before embedding (final LN +
    projection). ``qkv`` maps (N, L, W) → three (N, L, W) tensors. The last
    block's CLS attention and values are computed once per ``VitParts`` and
    reused by every recomputation (plain, calibrated, dominant-only).
    """

    hidden: torch.Tensor
    ln_1: Callable[[torch.Tensor], torch.Tensor]
    qkv: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    out_proj: Callable[[torch.Tensor], torch.Tensor]
    ln_2: Callable[[torch.Tensor], torch.Tensor]
    mlp: Callable[[torch.Tensor], torch.Tensor]
    head: Callable[[torch.Tensor], torch.Tensor]
    num_heads: int
    grid: tuple[int, int]
    num_prefix: int = 1
    ls_1: Callable[[torch.Tensor], torch.Tensor] = lambda t: t
    ls_2: Callable[[torch.Tensor], torch.Tensor] = lambda t: t
    _attention: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, init=False, repr=False)


class Backbone(ABC):
    """A CLIP-like model: preprocessing, tokenizer, encoders and token-level hooks.

    Subclasses set ``embed_dim``, ``context_length``, ``image_size`` (H, W) and
    implement the abstract methods. ``supports_image_calibration`` is False for
    backbones without patch attention (ResNets, pooled-head ViTs).
    """

    name: str = "base"
    embed_dim: int
    context_length: int
    image_size: tuple[int, int]
    supports_image_calibration: bool = True
    # What a checkpoint may carry beside its weights (None: nothing): calibration knobs measured on
    # it, the verdicts of its diagnosis, and the document frequency of words in its training captions.
    calibration_preset: dict[str, Any] | None = None
    diagnosis: dict[str, Any] | None = None
    word_df: dict[str, float] | None = None

    def __init__(self, spec: BackboneSpec, device: torch.device) -> None:
        self.spec = spec
        self.device = device

    # -- construction ---------------------------------------------------------
    @classmethod
    @abstractmethod
    def load(cls, spec: BackboneSpec, device: torch.device) -> "Backbone":
        """Build model, tokenizer and preprocessing from a parsed spec."""

    # -- the plain CLIP interface --------------------------------------------
    @abstractmethod
    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """The model's own transform: PIL image → (C, H, W) float tensor."""

    @abstractmethod
    def tokenize(self, texts: Sequence[str]) -> TextBatch:
        """The model's own tokenizer; long texts are truncated keeping the end token."""

    @abstractmethod
    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) → (N, D) L2-normalised image embeddings."""

    @abstractmethod
    def encode_text(self, batch: TextBatch) -> torch.Tensor:
        """Tokenized batch → (N, D) L2-normalised text embeddings."""

    # -- hooks adapters implement for calibration ----------------------------
    def _vit_parts(self, pixels: torch.Tensor) -> VitParts:
        """Run the vision tower up to (not including) its last block."""
        raise NotApplicable(
            f"backbone {self.spec.raw!r} has no ViT CLS attention",
            "image calibration (CVE) needs a ViT with a CLS token; use a ViT backbone or disable CVE",
        )

    def _vit_layers(self, pixels: torch.Tensor) -> Iterator[VitParts]:
        """Parts of every vision block in order (``hidden`` = that block's input); optional, for diagnosis."""
        raise NotApplicable(f"backbone {self.spec.raw!r} exposes only its last vision block")

    def _text_attention(self, batch: TextBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (embedding (N,D) normalised, end-token attention (N,T) mean over heads, eot index (N,))."""
        raise NotApplicable(f"backbone {self.spec.raw!r} exposes no text attention",
                            "text calibration (DCC) is unavailable for this backbone")

    def _word_token_count(self, word: str) -> int:
        """Number of tokens the tokenizer makes of one word (no special tokens)."""
        raise NotApplicable(f"backbone {self.spec.raw!r} cannot align words to tokens")

    text_prefix_tokens: int = 1  # SOT / [CLS] before the first word

    # -- hooks adapters implement for training (gradients flow; the caller picks the grad mode) --
    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """Values in [0, 1], (..., 3, H, W) → the model's input (training augments before this)."""
        raise self._untrainable()

    def trainable(self) -> torch.nn.Module:
        """The network whose parameters training updates."""
        raise self._untrainable()

    def image_features(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable (unnormalised embedding (N, D), last-layer token states (N, L, W)).

        The embedding is the one ``encode_image`` normalises (bit for bit where the same kernels
        run with gradients on; tiny: always).
        """
        raise self._untrainable()

    def text_features(self, batch: TextBatch) -> torch.Tensor:
        """Differentiable unnormalised text embedding (N, D) of a ``tokenize`` batch."""
        raise self._untrainable()

    def _untrainable(self) -> NotApplicable:
        return NotApplicable(f"backbone {self.spec.raw!r} has no training hooks",
                             "train a tiny model, or the calibclip model (an open_clip CLIP ViT)")

    # -- generic token-level hooks -------------------------------------------
    @torch.no_grad()
    def vit_parts(self, pixels: torch.Tensor) -> VitParts:
        """One pass over all but the last vision block, reusable by the two hooks below."""
        return self._vit_parts(pixels)

    @torch.no_grad()
    def vit_layer_parts(self, pixels: torch.Tensor) -> list[VitParts]:
        """Parts of every vision block (per-layer diagnosis); only the last one where the adapter has no more."""
        try:
            return list(self._vit_layers(pixels))
        except NotApplicable:
            return [self._vit_parts(pixels)]

    @torch.no_grad()
    def image_tokens(self, pixels: torch.Tensor, parts: VitParts | None = None) -> ImageTokens:
        """Last-block input states and mean-over-heads CLS attention (for CVE)."""
        parts = parts if parts is not None else self._vit_parts(pixels)
        probs, _ = _cls_attention(parts)
        return ImageTokens(hidden=parts.hidden, cls_attention=probs.mean(dim=1),
                           grid=parts.grid, num_prefix=parts.num_prefix)

    @torch.no_grad()
    def image_from_tokens(self, pixels: torch.Tensor, key_scale: torch.Tensor | None = None,
                          tokens: ImageTokens | None = None, parts: VitParts | None = None) -> torch.Tensor:
        """Recompute the last block's CLS output with CLS→key attention scaled by ``key_scale``.

        ``key_scale`` is (N, L); the scaled attention is renormalised to sum to 1.
        ``None`` (or all ones) reproduces ``encode_image`` exactly. ``tokens``
        from an earlier ``image_tokens`` call is not needed: the parts are rebuilt,
        unless ``parts`` from ``vit_parts(pixels)`` is given (several recomputations, one pass).
        """
        parts = parts if parts is not None else self._vit_parts(pixels)
        probs, v = _cls_attention(parts)
        if key_scale is not None:
            probs = probs * key_scale.to(probs.dtype)[:, None, :]
            probs = probs / probs.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        n, h, _ = probs.shape
        attended = torch.einsum("nhl,nhld->nhd", probs, v).reshape(n, -1)
        x = parts.hidden[:, 0] + parts.ls_1(parts.out_proj(attended))
        x = x + parts.ls_2(parts.mlp(parts.ln_2(x)))
        return F.normalize(parts.head(x), dim=-1)

    @torch.no_grad()
    def text_tokens(self, texts: Sequence[str], pool: str = "max") -> TextTokens:
        """End-token attention per word (for DCC), from one forward pass.

        A word's attention is read from its content sub-tokens only: attached
        punctuation ("coat." → the "." token) and special tokens never count,
        because BERT-style towers put heavy end-token attention on them. The
        sub-tokens are pooled by ``pool``: ``max`` (default: a word is as
        prominent as its most attended piece, whatever its length), ``mean`` or
        ``sum``.
        """
        if pool not in _POOLS:
            raise ValueError(f"pool must be one of {sorted(_POOLS)}, got {pool!r}")
        texts = list(texts)
        embedding, attention, eot_index = self._text_attention(self.tokenize(texts))
        words_per_text, per_word = [], []
        for row, text in enumerate(texts):
            words = split_words(text)
            weights = np.zeros(len(words), dtype=np.float64)
            pos = self.text_prefix_tokens
            end = int(eot_index[row])
            for i, word in enumerate(words):
                count = self._word_token_count(word)
                start, stop = self._core_tokens(word, count)
                start, stop = pos + start, min(pos + stop, end)
                if start < stop:
                    weights[i] = float(_POOLS[pool](attention[row, start:stop]))
                pos += count
            words_per_text.append(words)
            per_word.append(weights)
        return TextTokens(words=words_per_text, word_attention=per_word, embedding=embedding,
                          token_attention=attention, eot_index=eot_index)

    def _core_tokens(self, word: str, count: int) -> tuple[int, int]:
        """Token span [start, stop) of a word's core (leading/trailing punctuation excluded) among its ``count``.

        When the tokenizer does not split the punctuation off exactly, the whole word counts.
        """
        lead, core, trail = split_punctuation(word)
        if not core:
            return 0, 0
        if not lead and not trail:
            return 0, count
        before = self._word_token_count(lead) if lead else 0
        inside = self._word_token_count(core)
        after = self._word_token_count(trail) if trail else 0
        return (before, before + inside) if before + inside + after == count else (0, count)

    # -- conveniences ----------------------------------------------------------
    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """Encode any number of texts in batches → (N, D) float32 on CPU."""
        out = [self.encode_text(self.tokenize(list(texts[i:i + batch_size]))).float().cpu()
               for i in range(0, len(texts), batch_size)]
        return torch.cat(out) if out else torch.empty(0, self.embed_dim)

    @torch.no_grad()
    def embed_images(self, images: Sequence[Image.Image], batch_size: int = 64) -> torch.Tensor:
        """Preprocess and encode PIL images in batches → (N, D) float32 on CPU."""
        out = []
        for i in range(0, len(images), batch_size):
            pixels = torch.stack([self.preprocess(im) for im in images[i:i + batch_size]]).to(self.device)
            out.append(self.encode_image(pixels).float().cpu())
        return torch.cat(out) if out else torch.empty(0, self.embed_dim)


def last_block_tokens(parts: VitParts) -> torch.Tensor:
    """Every token's output of the last block (N, L, W), recomputed from ``parts`` (full self-attention)."""
    q, k, v = parts.qkv(parts.ln_1(parts.hidden))
    n, length, width = q.shape
    heads = parts.num_heads
    split = [t.reshape(n, length, heads, width // heads).transpose(1, 2) for t in (q, k, v)]
    attended = F.scaled_dot_product_attention(*split).transpose(1, 2).reshape(n, length, width)
    x = parts.hidden + parts.ls_1(parts.out_proj(attended))
    return x + parts.ls_2(parts.mlp(parts.ln_2(x)))


def last_layer(layers: Iterable[VitParts]) -> VitParts:
    """The last of an adapter's per-block parts (what CVE recomputes)."""
    parts = None
    for parts in layers:
        pass
    if parts is None:
        raise NotApplicable("the vision tower has no blocks")
    return parts


def cls_attention_and_values(parts: VitParts) -> tuple[torch.Tensor, torch.Tensor]:
    """A block's CLS-query attention (N, H, L) and per-head values (N, H, L, d), for diagnosis."""
    return _cls_attention(parts)


def _cls_attention(parts: VitParts) -> tuple[torch.Tensor, torch.Tensor]:
    """CLS-query attention probabilities (N, H, L) and per-head values (N, H, L, d), computed once per ``parts``."""
    if parts._attention is None:
        parts._attention = _compute_cls_attention(parts)
    return parts._attention


def _compute_cls_attention(parts: VitParts) -> tuple[torch.Tensor, torch.Tensor]:
    q, k, v = parts.qkv(parts.ln_1(parts.hidden))
    n, length, width = k.shape
    heads = parts.num_heads
    d = width // heads
    q = q[:, 0].reshape(n, heads, 1, d)
    k = k.reshape(n, length, heads, d).transpose(1, 2)
    v = v.reshape(n, length, heads, d).transpose(1, 2)
    logits = (q @ k.transpose(-1, -2)).squeeze(2) / d ** 0.5
    return logits.softmax(dim=-1), v
