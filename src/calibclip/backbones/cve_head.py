"""The trainable Calibrated Vision Encoder head: a small transformer over a ViT's last-layer tokens.

CalibCLIP's trained side (the seed's ``model.cve``: heads, layers, dropout)
recomputes the image embedding from every token the backbone's last block
produced, so details the CLS token under-weighted can be brought back::

    embedding = normalize(e + W · LN(T(tokens))[CLS])

``e`` is the backbone's own (unnormalised) embedding, ``T`` ``num_layers``
pre-LN transformer layers at the vision width, and ``W`` a projection to the
embedding space initialised to zero (a zero-initialised residual, as
ControlNet's zero convolutions), so an untrained head returns the backbone's
embedding bit for bit and training starts from the backbone's accuracy.

The head is text-free: an image embedding that depended on the query could
not be indexed (every query would need one head pass per gallery image); the
text side shapes it through the loss (``calibclip.training``). It lives with
the adapters because it is part of a checkpoint's architecture: ``tiny`` and
the seed model load it from their own files.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from calibclip.backbones.base import Backbone, VitParts, last_block_tokens
from calibclip.errors import CheckpointMismatch, ConfigError


@dataclass(frozen=True)
class CveHeadConfig:
    """Shape of a CVE head (saved with its weights)."""

    width: int            # token width of the backbone's last layer
    embed_dim: int        # joint embedding size
    num_heads: int = 8    # attention heads per layer
    num_layers: int = 2   # transformer layers
    dropout: float = 0.1  # dropout inside the layers (training only)

    def __post_init__(self) -> None:
        if self.num_layers < 1 or self.num_heads < 1 or self.width % self.num_heads:
            raise ConfigError(f"cve: {self.num_heads} heads cannot split the backbone's token width {self.width} "
                              f"({self.num_layers} layers)", "pick num_heads dividing the width, num_layers >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"cve.dropout must be in [0, 1), got {self.dropout}")


class CveHead(nn.Module):
    """(N, L, W) last-layer tokens → (N, D) correction of the image embedding (zero before training)."""

    def __init__(self, cfg: CveHeadConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layer = nn.TransformerEncoderLayer(cfg.width, cfg.num_heads, 4 * cfg.width, cfg.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)
        self.ln = nn.LayerNorm(cfg.width)
        self.proj = nn.Linear(cfg.width, cfg.embed_dim)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.proj(self.ln(self.layers(tokens)[:, 0]))

    def to_dict(self) -> dict[str, Any]:
        """Config + weights, as stored inside a checkpoint."""
        return {"config": asdict(self.cfg), "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()}}

    @classmethod
    def from_dict(cls, blob: dict[str, Any], where: str) -> "CveHead":
        """Rebuild a head saved by ``to_dict``; a damaged entry is one ``CheckpointMismatch`` line."""
        try:
            head = cls(CveHeadConfig(**blob["config"]))
            head.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
        except (KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointMismatch(f"the CVE head stored in {where} does not fit its own config",
                                     " ".join(str(exc).split())[:160]) from exc
        return head.eval()


class CveBackbone(Backbone):
    """Any ViT backbone with a CVE head on its image side; the text side is the backbone's own.

    Training-free calibration works on top: the CLS state the calibration
    recomputes goes through the head together with the unchanged patch tokens.

    Example:
        >>> inner = load_backbone("tiny:none")
        >>> head = CveHead(CveHeadConfig(width=128, embed_dim=inner.embed_dim))
        >>> plain, with_head = inner.encode_image(x), CveBackbone(inner, head).encode_image(x)  # equal at init
    """

    def __init__(self, inner: Backbone, head: CveHead) -> None:
        super().__init__(inner.spec, inner.device)
        self.inner = inner
        self.head = head.to(inner.device)
        self.name = inner.name
        self.embed_dim, self.context_length = inner.embed_dim, inner.context_length
        self.image_size = inner.image_size
        self.supports_image_calibration = inner.supports_image_calibration
        self.text_prefix_tokens = inner.text_prefix_tokens

    @classmethod
    def load(cls, spec, device):  # built from an inner backbone and a head, never from a spec
        raise ConfigError("a CVE backbone is built by the checkpoint that carries the head")

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self.inner.preprocess(image)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.inner.normalize(pixels)

    def tokenize(self, texts: Sequence[str]) -> Any:
        return self.inner.tokenize(texts)

    def encode_text(self, batch: Any) -> torch.Tensor:
        return self.inner.encode_text(batch)

    def text_features(self, batch: Any) -> torch.Tensor:
        return self.inner.text_features(batch)

    def trainable(self) -> nn.Module:
        return nn.ModuleDict({"backbone": self.inner.trainable(), "cve": self.head})

    def image_features(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding, tokens = self.inner.image_features(pixels)
        return embedding + self.head(tokens).to(embedding.dtype), tokens

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return F.normalize(self.image_features(pixels)[0], dim=-1)

    def _vit_parts(self, pixels: torch.Tensor) -> VitParts:
        parts = self.inner._vit_parts(pixels)
        rest = last_block_tokens(parts)[:, 1:]  # calibration recomputes the CLS state only
        inner_head = parts.head

        def head(cls_state: torch.Tensor) -> torch.Tensor:
            tokens = torch.cat([cls_state[:, None], rest], dim=1)
            return inner_head(cls_state) + self.head(tokens).to(cls_state.dtype)
        parts.head = head
        return parts

    def _text_attention(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.inner._text_attention(batch)

    def _word_token_count(self, word: str) -> int:
        return self.inner._word_token_count(word)


__all__ = ["CveHead", "CveHeadConfig", "CveBackbone"]
