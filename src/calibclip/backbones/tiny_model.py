"""TinyCLIP: the small CLIP-style model behind the bundled ``tiny`` backbone.

A pre-LN ViT image tower and a causal text transformer with the same block
layout as OpenAI CLIP, small enough to train on 2 CPU cores and ship in the
package. Attention is written out (not ``nn.MultiheadAttention``) so the
calibration hooks can read the weights directly. The tokenizer is word-level
(vocabulary stored with the checkpoint), CJK characters one token each.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

SPECIALS = ["<pad>", "<unk>", "<sot>", "<eot>"]
PAD, UNK, SOT, EOT = range(4)
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+|[^\w\s]", re.UNICODE)


@dataclass
class TinyConfig:
    """Architecture of a TinyCLIP (saved inside every checkpoint)."""

    image_size: tuple[int, int] = (192, 64)   # (H, W): pedestrians are 3:1
    patch_size: int = 16                      # 12×4 grid: 4× fewer tokens than 8 px, trains in minutes on CPU
    conv_stem: bool = False                   # 3×3 stride-2 conv stack instead of one patchify conv
    vision_width: int = 192
    vision_layers: int = 6
    vision_heads: int = 3
    text_width: int = 128
    text_layers: int = 4
    text_heads: int = 4
    context_length: int = 64
    embed_dim: int = 128
    vocab: list[str] = field(default_factory=list)  # words after the 4 specials
    mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
    std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)

    def to_dict(self) -> dict:
        return asdict(self)


class TinyTokenizer:
    """Lowercased word-level tokenizer; truncation keeps ``<eot>`` as the last token."""

    def __init__(self, vocab: Sequence[str], context_length: int) -> None:
        self.itos = SPECIALS + [w for w in vocab if w not in SPECIALS]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.context_length = context_length

    @staticmethod
    def split(text: str) -> list[str]:
        return _TOKEN.findall(text.lower())

    def encode(self, text: str) -> list[int]:
        ids = [self.stoi.get(tok, UNK) for tok in self.split(text)]
        ids = ids[: self.context_length - 2]
        return [SOT, *ids, EOT]

    def __call__(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """→ (ids (N, context_length), eot_index (N,))."""
        out = torch.full((len(texts), self.context_length), PAD, dtype=torch.long)
        eot = torch.zeros(len(texts), dtype=torch.long)
        for row, text in enumerate(texts):
            ids = self.encode(text)
            out[row, : len(ids)] = torch.tensor(ids)
            eot[row] = len(ids) - 1
        return out, eot


class Attention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        n, length, width = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        logits = (q @ k.transpose(-1, -2)) / (width // self.heads) ** 0.5
        if mask is not None:
            logits = logits + mask
        probs = logits.softmax(dim=-1)
        out = (probs @ v).transpose(1, 2).reshape(n, length, width)
        return self.out_proj(out), probs


class Block(nn.Module):
    """Pre-LN residual block, CLIP layout: x + attn(ln_1 x); x + mlp(ln_2 x)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        attended, probs = self.attn(self.ln_1(x), mask)
        x = x + attended
        return x + self.mlp(self.ln_2(x)), probs


def conv_stem(width: int, patch_size: int) -> nn.Sequential:
    """Stride-2 3×3 convs (BN + ReLU) down to the patch grid, then a 1×1 conv to ``width``.

    Xiao et al. 2021, "Early Convolutions Help Transformers See Better": the
    same token grid as a patchify stem, but far easier to optimise from
    scratch on little data, which is what the tiny model has.
    """
    steps = patch_size.bit_length() - 1
    if 2 ** steps != patch_size:
        raise ValueError(f"conv_stem needs a power-of-two patch_size, got {patch_size}")
    layers: list[nn.Module] = []
    channels = 3
    for i in range(steps):
        out = width // 2 ** (steps - 1 - i)
        layers += [nn.Conv2d(channels, out, 3, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
        channels = out
    return nn.Sequential(*layers, nn.Conv2d(channels, width, 1))


class VisionTower(nn.Module):
    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        h, w = cfg.image_size
        self.grid = (h // cfg.patch_size, w // cfg.patch_size)
        width = cfg.vision_width
        self.conv = (conv_stem(width, cfg.patch_size) if cfg.conv_stem
                     else nn.Conv2d(3, width, cfg.patch_size, cfg.patch_size, bias=False))
        self.class_embedding = nn.Parameter(torch.randn(width) * width ** -0.5)
        self.positional_embedding = nn.Parameter(torch.randn(1 + self.grid[0] * self.grid[1], width) * 0.02)
        self.ln_pre = nn.LayerNorm(width)
        self.blocks = nn.ModuleList(Block(width, cfg.vision_heads) for _ in range(cfg.vision_layers))
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, cfg.embed_dim) * width ** -0.5)

    def stem(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.conv(pixels).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        return self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype))

    def head(self, cls_state: torch.Tensor) -> torch.Tensor:
        return self.ln_post(cls_state) @ self.proj

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.stem(pixels)
        for block in self.blocks:
            x, _ = block(x)
        return self.head(x[:, 0])


class TextTower(nn.Module):
    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        width = cfg.text_width
        self.token_embedding = nn.Embedding(len(SPECIALS) + len(cfg.vocab), width)
        self.positional_embedding = nn.Parameter(torch.randn(cfg.context_length, width) * 0.01)
        self.blocks = nn.ModuleList(Block(width, cfg.text_heads) for _ in range(cfg.text_layers))
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.randn(width, cfg.embed_dim) * width ** -0.5)
        causal = torch.full((cfg.context_length, cfg.context_length), float("-inf")).triu(1)
        self.register_buffer("causal_mask", causal, persistent=False)

    def forward(self, ids: torch.Tensor, eot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """→ (unnormalised embedding (N, D), last-layer attention (N, H, T, T)).

        ``ids`` may be shorter than ``context_length`` (training trims padding
        past the longest caption); the result is the same as on padded ids
        because attention is causal.
        """
        length = ids.shape[1]
        x = self.token_embedding(ids) + self.positional_embedding[:length]
        mask = self.causal_mask[:length, :length]
        probs = None
        for block in self.blocks:
            x, probs = block(x, mask)
        x = self.ln_final(x)
        pooled = x[torch.arange(x.shape[0], device=x.device), eot]
        return pooled @ self.text_projection, probs


class TinyCLIP(nn.Module):
    """The two towers plus a learnable temperature."""

    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.visual = VisionTower(cfg)
        self.text = TextTower(cfg)
        self.logit_scale = nn.Parameter(torch.tensor(2.6593))  # ln(1/0.07), as CLIP

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.visual(pixels), dim=-1)

    def encode_text(self, ids: torch.Tensor, eot: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(ids, eot)[0], dim=-1)
