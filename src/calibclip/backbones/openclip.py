"""``openclip`` backbone: any open_clip architecture with open_clip's own transform and tokenizer.

Spec forms and weight handling live in ``openclip_load``; this module adapts the built model to
the ``Backbone`` interface, including the token-level hooks CVE and DCC read.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from calibclip.backbones.base import Backbone, VitParts, last_layer
from calibclip.backbones.openclip_load import create_open_clip, resize_pos_embed
from calibclip.errors import NotApplicable
from calibclip.types import BackboneSpec

__all__ = ["OpenClipBackbone", "resize_pos_embed"]


def _vit_layout_ok(visual: Any) -> bool:
    """A plain CLS-pooled ViT whose blocks use ``nn.MultiheadAttention`` (what CVE can recompute)."""
    from open_clip.transformer import ResidualAttentionBlock, VisionTransformer

    if not isinstance(visual, VisionTransformer) or visual.attn_pool is not None or visual.pool_type != "tok":
        return False
    return visual.proj is not None and all(
        type(block) is ResidualAttentionBlock and block.attn.in_proj_weight is not None
        for block in visual.transformer.resblocks)


def _run_blocks(transformer: Any, x: torch.Tensor, blocks: Sequence[Any]) -> torch.Tensor:
    """Run (N, L, W) states through some of a transformer's blocks, minding its ``batch_first``."""
    x = x if transformer.batch_first else x.transpose(0, 1)
    for block in blocks:
        x = block(x)
    return x if transformer.batch_first else x.transpose(0, 1)


def _in_proj(attn: torch.nn.MultiheadAttention) -> Callable[[torch.Tensor], tuple[torch.Tensor, ...]]:
    return lambda t: F.linear(t, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)


class OpenClipBackbone(Backbone):
    """Adapter over an open_clip ``CLIP``/``CustomTextCLIP`` model.

    Example:
        >>> from calibclip.backbones import load_backbone
        >>> model = load_backbone("openclip:ViT-B-16:none", device="cpu")
        >>> model.supports_image_calibration
        True
    """

    name = "openclip"

    def __init__(self, spec: BackboneSpec, device: torch.device, model: Any, transform: Callable,
                 tokenizer: Any, embed_dim: int) -> None:
        super().__init__(spec, device)
        self.model = model.to(device).eval()
        self.transform = transform
        self.tokenizer = tokenizer
        self.embed_dim = embed_dim
        self.context_length = int(tokenizer.context_length)
        size = model.visual.image_size
        self.image_size = (size, size) if isinstance(size, int) else tuple(size)
        self.supports_image_calibration = _vit_layout_ok(model.visual)

    @classmethod
    def load(cls, spec: BackboneSpec, device: torch.device,
             image_size: Sequence[int] | None = None) -> "OpenClipBackbone":
        """Build from ``openclip:ARCH[@HxW]:TAG|PATH|TAG=PATH|none``; ``image_size`` (H, W) overrides."""
        parts = create_open_clip(spec.arch or "", spec.weights, image_size)
        return cls(spec, device, parts.model, parts.transform, parts.tokenizer, parts.embed_dim)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image.convert("RGB"))

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(texts))

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels.to(self.device), normalize=True)

    @torch.no_grad()
    def encode_text(self, batch: torch.Tensor) -> torch.Tensor:
        return self._encode_ids(batch.to(self.device))

    def _encode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """``model.encode_text``, over the positions up to the batch's last end token where the tower allows it.

        CLIP's text tower is causal and pools its end token, so the padding after the
        end token is never read: dropping it gives the same embedding (to float rounding)
        for a fraction of the cost (77 positions → the longest text of the batch).
        """
        model = self.model
        try:
            _, end_index = self._text_layout()
        except NotApplicable:
            return model.encode_text(ids, normalize=True)
        ends = end_index(ids)
        length = int(ends.max()) + 1 if len(ids) else ids.shape[1]
        if getattr(model, "text", None) is not None or getattr(model, "attn_mask", None) is None \
                or length >= ids.shape[1]:
            return model.encode_text(ids, normalize=True)
        cast = model.transformer.get_cast_dtype()
        x = model.token_embedding(ids[:, :length]).to(cast) + model.positional_embedding[:length].to(cast)
        x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:length, :length]))
        x = x[torch.arange(len(ids), device=x.device), ends]
        projection = model.text_projection
        x = projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection
        return F.normalize(x, dim=-1)

    # -- training hooks ---------------------------------------------------------
    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        mean, std = _normalisation(self.transform)
        return (pixels - mean.to(pixels.device)) / std.to(pixels.device)

    def trainable(self) -> torch.nn.Module:
        return self.model

    def image_features(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's own ``encode_image`` pass; a hook keeps the vision transformer's output tokens."""
        transformer = getattr(self.model.visual, "transformer", None)
        if transformer is None:
            raise self._untrainable()
        seen: dict[str, torch.Tensor] = {}
        handle = transformer.register_forward_hook(lambda _m, _a, out: seen.setdefault("x", out))
        try:
            embedding = self.model.encode_image(pixels.to(self.device), normalize=False)
        finally:
            handle.remove()
        return embedding, seen["x"] if transformer.batch_first else seen["x"].transpose(0, 1)

    def text_features(self, batch: torch.Tensor) -> torch.Tensor:
        """``encode_text`` on ids cut after the last end token: the tower is causal, so the kept
        positions see exactly what they saw padded (CLIP's captions fill a fraction of 77 tokens)."""
        from open_clip.transformer import text_global_pool

        model, ids = self.model, batch.to(self.device)
        if getattr(model, "text", None) is not None or model.text_pool_type not in ("argmax", "eos"):
            return model.encode_text(ids, normalize=False)
        _, end_index = self._text_layout()
        ids = ids[:, :int(end_index(ids).max()) + 1]
        length, cast = ids.shape[1], model.transformer.get_cast_dtype()
        x = model.token_embedding(ids).to(cast) + model.positional_embedding[:length].to(cast)
        x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:length, :length]))
        x = text_global_pool(x, ids, model.text_pool_type, eos_token_id=model.text_eos_id)
        projection = model.text_projection
        return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection

    # -- calibration hooks ------------------------------------------------------
    def _vit_layers(self, pixels: torch.Tensor) -> Iterator[VitParts]:
        if not self.supports_image_calibration:
            return super()._vit_layers(pixels)
        return self._vit_block_parts(pixels)

    def _vit_block_parts(self, pixels: torch.Tensor) -> Iterator[VitParts]:
        visual = self.model.visual
        x = visual.conv1(pixels.to(self.device)).flatten(2).transpose(1, 2)
        cls_token = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls_token, x], dim=1) + visual.positional_embedding.to(x.dtype)
        x = visual.ln_pre(visual.patch_dropout(x))
        blocks = visual.transformer.resblocks
        for i, block in enumerate(blocks):
            yield VitParts(
                hidden=x, ln_1=block.ln_1, qkv=_in_proj(block.attn), out_proj=block.attn.out_proj,
                ln_2=block.ln_2, mlp=block.mlp, head=lambda t: visual.ln_post(t) @ visual.proj,
                num_heads=block.attn.num_heads, grid=tuple(visual.grid_size), ls_1=block.ls_1, ls_2=block.ls_2)
            if i < len(blocks) - 1:
                x = _run_blocks(visual.transformer, x, [block])

    def _vit_parts(self, pixels: torch.Tensor) -> VitParts:
        if not self.supports_image_calibration:
            return super()._vit_parts(pixels)
        return last_layer(self._vit_block_parts(pixels))

    def _text_attention(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One normal ``encode_text`` pass; a pre-hook keeps the last block's input and mask."""
        transformer, end_index = self._text_layout()
        ids = batch.to(self.device)
        last = transformer.resblocks[-1]
        seen: dict[str, Any] = {}

        def keep_input(_module: Any, args: tuple, kwargs: dict) -> None:
            seen["x"], seen["mask"] = args[0], kwargs.get("attn_mask")

        handle = last.register_forward_pre_hook(keep_input, with_kwargs=True)
        try:
            with torch.no_grad():
                embedding = self._encode_ids(ids)
        finally:
            handle.remove()
        x = seen["x"] if transformer.batch_first else seen["x"].transpose(0, 1)
        eot = end_index(ids)
        return embedding, _query_attention(last, x, eot, seen["mask"]), eot

    def _text_layout(self) -> tuple[Any, Callable[[torch.Tensor], torch.Tensor]]:
        """The text transformer and how its pooled (end) token is found, or ``NotApplicable``."""
        from open_clip.tokenizer import SimpleTokenizer
        from open_clip.transformer import ResidualAttentionBlock, TextTransformer

        text = getattr(self.model, "text", None)
        if text is None:  # CLIP keeps its text tower's parts on the model itself
            transformer, pool, eos = self.model.transformer, self.model.text_pool_type, self.model.text_eos_id
        elif isinstance(text, TextTransformer) and text.cls_emb is None:
            transformer, pool, eos = text.transformer, text.pool_type, text.eos_id
        else:
            transformer, pool, eos = None, None, None
        finders = {
            "argmax": lambda ids: ids.argmax(dim=-1),
            "eos": lambda ids: (ids == eos).int().argmax(dim=-1),
            "last": lambda ids: torch.full((ids.shape[0],), ids.shape[1] - 1, dtype=torch.long, device=ids.device),
        }
        usable = (transformer is not None and pool in finders and isinstance(self.tokenizer, SimpleTokenizer)
                  and all(type(b) is ResidualAttentionBlock for b in transformer.resblocks))
        if not usable:
            raise NotApplicable(f"backbone {self.spec.raw!r} has a text tower DCC cannot read "
                                f"(pooling {pool!r}, tokenizer {type(self.tokenizer).__name__})",
                                "text calibration needs a CLIP-style text transformer with open_clip's tokenizer")
        return transformer, finders[pool]

    def _word_token_count(self, word: str) -> int:
        return len(self.tokenizer.encode(word))


def _normalisation(transform: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std (3, 1, 1) of the ``Normalize`` step of a torchvision eval transform."""
    for step in getattr(transform, "transforms", ()):
        if hasattr(step, "mean") and hasattr(step, "std"):
            return torch.tensor(step.mean).view(3, 1, 1), torch.tensor(step.std).view(3, 1, 1)
    raise NotApplicable("the backbone's transform has no Normalize step", "training needs the input statistics")


def _query_attention(block: Any, x: torch.Tensor, query: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Attention of token ``query[n]`` over all keys in ``block`` (mean over heads) → (N, T)."""
    attn = block.attn
    q, k, _ = _in_proj(attn)(block.ln_1(x))
    n, length, width = k.shape
    heads = attn.num_heads
    d = width // heads
    rows = torch.arange(n, device=x.device)
    q = q[rows, query].reshape(n, heads, 1, d)
    k = k.reshape(n, length, heads, d).transpose(1, 2)
    logits = (q @ k.transpose(-1, -2)).squeeze(2) / d ** 0.5
    if mask is not None:
        mask = mask.to(logits.dtype)
        if mask.dim() == 2:  # one (T, T) causal mask for the batch
            logits = logits + mask[query][:, None, :]
        else:  # (N * heads, T, T): causal plus padding
            logits = logits + mask.reshape(n, heads, length, length)[rows, :, query]
    return logits.softmax(dim=-1).mean(dim=1)
