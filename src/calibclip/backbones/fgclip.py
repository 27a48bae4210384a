"""``fgclip`` backbone: FG-CLIP (Xie et al., ICML 2025; github 360CVGroup/FG-CLIP) through its own hub code.

Spec: ``fgclip:/local/dir`` or ``fgclip:qihoo360/fg-clip-base``. The folder's ``config.json``
points (``auto_map``) at FG-CLIP's ``modeling_*.py``, loaded with ``trust_remote_code=True`` as
FG-CLIP's README does (``AutoModelForCausalLM``), local files first. FG-CLIP's text tower has two
position paths: ``walk_short_pos=True`` (77 positions, ``text_projection``) for short captions and
the long path (248 positions, ``text_filip_projection``) for long ones; each text takes the path
its length fits, as FG-CLIP's README and evaluation scripts do. Images are resized to the model's
square input before its image processor, as in the README. The vision tower is transformers'
CLIP ViT, so CVE reads it like the ``hf`` adapter does.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from calibclip.backbones.base import VitParts
from calibclip.backbones.hf import (HFBackbone, _Family, _features, _from_source, _import_transformers, _is_local,
                                    _model_loader, keep_end_token)
from calibclip.errors import SpecError, WeightsNotFound
from calibclip.types import BackboneSpec

SHORT_LENGTH = 77   # FG-CLIP's short path: CLIP's own position table
LONG_LENGTH = 248   # its long path; the long position tables only work at exactly this length
FAMILY = _Family("FGCLIPModel", "eos", "max_length", True)
_AUTO_CLASSES = ("AutoModelForCausalLM", "AutoModel")  # the README's class first
HINT = ("pass fgclip:/path/to/dir holding FG-CLIP's hub files (config.json, its modeling_*.py, weights, "
        "tokenizer and preprocessor_config.json), e.g. a download of qihoo360/fg-clip-base")


def _remote(loader: Callable[..., Any]) -> Callable[..., Any]:
    return lambda source, **kwargs: loader(source, trust_remote_code=True, **kwargs)


def _fetch(loader: Callable[..., Any], source: str, what: str) -> Any:
    """``hf``'s local-first loading, with a hint that names this spec form."""
    try:
        return _from_source(loader, source, what)
    except WeightsNotFound as exc:
        raise WeightsNotFound(exc.message, HINT) from exc


def _vit_layout_ok(model: Any) -> bool:
    """transformers' CLIP vision transformer with a visual projection (what CVE can recompute)."""
    vision = getattr(model, "vision_model", None)
    layers = getattr(getattr(vision, "encoder", None), "layers", None)
    if vision is None or not layers or not hasattr(model, "visual_projection"):
        return False
    attn = getattr(layers[-1], "self_attn", None)
    return all(hasattr(attn, name) for name in ("q_proj", "k_proj", "v_proj", "out_proj")) and all(
        hasattr(vision, name) for name in ("embeddings", "pre_layrnorm", "post_layernorm"))


def _check_code_file(source: str, reference: str) -> None:
    """A local folder must hold the code its ``auto_map`` names: transformers would otherwise reuse a
    class registered by an earlier load in the same process, or fail with a hub URL built from a path."""
    module = reference.rsplit(".", 1)[0]
    if _is_local(source) and "--" not in module and not (Path(source) / f"{module}.py").is_file():
        raise WeightsNotFound(f"{source} has no {module}.py, the FG-CLIP code its config.json names",
                              f"copy {module}.py from the FG-CLIP hub repo (qihoo360/fg-clip-base) into the folder")


class FgClipBackbone(HFBackbone):
    """Adapter over FG-CLIP's ``FGCLIPModel`` (a transformers CLIP subclass from the hub repo's code).

    Example:
        >>> from calibclip.backbones import load_backbone
        >>> model = load_backbone("fgclip:/models/fg-clip-base", device="cpu")  # doctest: +SKIP
        >>> model.context_length  # doctest: +SKIP
        248
    """

    name = "fgclip"

    def __init__(self, spec: BackboneSpec, device: torch.device, model: Any, processor: Any, tokenizer: Any) -> None:
        super().__init__(spec, device, model, processor, tokenizer, FAMILY)
        self.short_length = min(SHORT_LENGTH, int(model.config.text_config.max_position_embeddings))
        self.context_length = LONG_LENGTH
        self.supports_image_calibration = _vit_layout_ok(model)

    @classmethod
    def load(cls, spec: BackboneSpec, device: torch.device) -> "FgClipBackbone":
        """Build from ``fgclip:/dir`` or ``fgclip:org/name`` (FG-CLIP's code runs: ``trust_remote_code``)."""
        transformers = _import_transformers()
        source = str(Path(spec.weights).expanduser()) if spec.weights else ""
        if not source:
            raise SpecError(f"backbone spec {spec.raw!r} names no model", "use fgclip:/path/to/dir or "
                            "fgclip:qihoo360/fg-clip-base")
        if _is_local(source) and not Path(source).is_dir():
            raise WeightsNotFound(f"model directory not found: {source}", HINT)
        config = _fetch(_remote(transformers.AutoConfig.from_pretrained), source, "config.json")
        auto = next((name for name in _AUTO_CLASSES if name in (getattr(config, "auto_map", None) or {})), None)
        if auto is None:
            raise SpecError(f"{source} is not an FG-CLIP model: its config.json maps no model class to "
                            "FG-CLIP's code (auto_map)", "a plain CLIP folder loads with hf:DIR")
        _check_code_file(source, config.auto_map[auto])
        loader = _remote(_model_loader(getattr(transformers, auto), config))
        model = _fetch(loader, source, "model weights or FG-CLIP's modeling code")
        processor = _fetch(transformers.AutoImageProcessor.from_pretrained, source, "image processor")
        tokenizer = _fetch(transformers.AutoTokenizer.from_pretrained, source, "tokenizer")
        if 2 * len(tokenizer) < config.text_config.vocab_size:  # transformers 5 builds an empty one
            raise WeightsNotFound(f"{source} has no tokenizer files ({len(tokenizer)} tokens for a "
                                  f"{config.text_config.vocab_size}-token model)", HINT)
        return cls(spec, device, model, processor, tokenizer)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """FG-CLIP's README: square resize to the input size, then the image processor."""
        side = self.image_size[0]
        return super().preprocess(image.convert("RGB").resize((side, side)))

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """CLIP BPE padded to 248 with the end token kept; ``short`` marks texts that fit 77 positions."""
        texts = list(texts)
        batch = self.tokenizer(texts or [""], padding="max_length", truncation=True, max_length=LONG_LENGTH,
                               return_tensors="pt")
        keep_end_token(batch["input_ids"], batch["attention_mask"], self._end_id)
        short = batch["attention_mask"].sum(dim=1) <= self.short_length
        return {"input_ids": batch["input_ids"][:len(texts)], "short": short[:len(texts)]}

    def _paths(self, batch: dict[str, torch.Tensor]) -> list[tuple[bool, torch.Tensor, torch.Tensor]]:
        """(walk_short_pos, row indices, ids cut to the path's length) per non-empty path."""
        ids, short = batch["input_ids"].to(self.device), batch["short"].to(self.device)
        paths = [(True, short.nonzero().flatten(), self.short_length),
                 (False, (~short).nonzero().flatten(), LONG_LENGTH)]
        return [(walk, rows, ids[rows, :length]) for walk, rows, length in paths if len(rows)]

    @torch.no_grad()
    def encode_text(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = torch.empty(len(batch["input_ids"]), self.embed_dim, device=self.device)
        for walk, rows, ids in self._paths(batch):
            out[rows] = _features(self.model.get_text_features(input_ids=ids, walk_short_pos=walk)).float()
        return F.normalize(out, dim=-1)

    # -- calibration hooks ------------------------------------------------------
    def _vit_parts(self, pixels: torch.Tensor) -> VitParts:
        """The last layer's input from ``output_hidden_states`` (FG-CLIP's code predates transformers 5's layer API)."""
        if not self.supports_image_calibration:
            return super()._vit_parts(pixels)
        vision = self.model.vision_model
        out = vision(pixel_values=pixels.to(self.device), output_hidden_states=True, return_dict=True)
        last = vision.encoder.layers[-1]
        attn = last.self_attn
        grid = self.image_size[0] // vision.config.patch_size
        return VitParts(
            hidden=out.hidden_states[-2], ln_1=last.layer_norm1,
            qkv=lambda t: (attn.q_proj(t), attn.k_proj(t), attn.v_proj(t)), out_proj=attn.out_proj,
            ln_2=last.layer_norm2, mlp=last.mlp, head=lambda t: self.model.visual_projection(vision.post_layernorm(t)),
            num_heads=attn.num_heads, grid=(grid, grid))

    @torch.no_grad()
    def _text_attention(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each path's text model with attentions; its projection as in ``get_text_features``."""
        n = len(batch["input_ids"])
        embedding = torch.empty(n, self.embed_dim, device=self.device)
        attention = torch.zeros(n, LONG_LENGTH, device=self.device)
        end = torch.zeros(n, dtype=torch.long, device=self.device)
        for walk, rows, ids in self._paths(batch):
            out = self.model.text_model(input_ids=ids, output_attentions=True, return_dict=True, walk_short_pos=walk)
            projection = self.model.text_projection if walk else self.model.text_filip_projection
            pool = self._pool_index(ids)
            embedding[rows] = projection(out.pooler_output).float()
            attention[rows, :ids.shape[1]] = out.attentions[-1][torch.arange(len(rows)), :, pool].float().mean(dim=1)
            end[rows] = pool  # the first end token: where words stop and what the model pools
        return F.normalize(embedding, dim=-1), attention, end
