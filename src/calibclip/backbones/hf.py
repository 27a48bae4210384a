"""``hf`` backbone: transformers CLIP, ChineseCLIP and SigLIP from a folder or a hub id.

Spec: ``hf:/local/dir`` (a ``save_pretrained`` folder: ``config.json``, weights, tokenizer and
image-processor files) or ``hf:openai/clip-vit-base-patch16``. The model class follows the
folder's ``config.json`` ``model_type``. The local cache is always tried first; the hub only
for hub ids. Attention is eager, so the last layer's attention weights can be read.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from calibclip.backbones.base import Backbone, VitParts, last_layer
from calibclip.backbones.hub import why_not_downloaded
from calibclip.errors import CheckpointMismatch, NotApplicable, SpecError, WeightsNotFound
from calibclip.types import BackboneSpec

LOCAL_HINT = ("pass hf:/path/to/dir containing config.json and model.safetensors "
              "(plus the tokenizer and preprocessor_config.json files)")


@dataclass(frozen=True)
class _Family:
    """How one transformers model type is driven."""

    model_class: str          # transformers class name
    pool: str                 # text position the model pools: "eos" | "first" | "last"
    padding: str              # "longest" where pads are masked; "max_length" where the model was trained on pads
    image_calibration: bool   # a CLS-pooled ViT that CVE can recompute (SigLIP pools with an attention head)


FAMILIES = {
    "clip": _Family("CLIPModel", "eos", "longest", True),
    "chinese_clip": _Family("ChineseCLIPModel", "first", "longest", True),
    "siglip": _Family("SiglipModel", "last", "max_length", False),
}


def _import_transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise SpecError("the 'hf' backbone needs transformers", "pip install 'calibclip[hf]'") from exc
    return transformers


def _is_local(source: str) -> bool:
    """A path (existing or not) rather than a hub id such as ``org/name``."""
    return (Path(source).expanduser().exists() or source.startswith((".", "~", "/")) or "\\" in source
            or source.count("/") > 1)


def _from_source(loader: Callable[..., Any], source: str, what: str) -> Any:
    """Load from disk or the local cache first; reach the hub only for a hub id."""
    try:
        return loader(source, local_files_only=True)
    except (OSError, ValueError) as exc:
        if _is_local(source):
            raise WeightsNotFound(f"cannot read the {what} in {source}: {_first_line(exc)}", LOCAL_HINT) from exc
    try:
        return loader(source)
    except (OSError, ValueError) as exc:
        raise WeightsNotFound(f"hub model {source!r}: {what} is not cached and cannot be downloaded "
                              f"({why_not_downloaded(exc)})", LOCAL_HINT) from exc


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160]


def _model_loader(model_class: Any, config: Any) -> Callable[..., Any]:
    """``from_pretrained`` with eager attention; a corrupt weights file becomes ``CheckpointMismatch``."""
    def load(source: str, **kwargs: Any) -> Any:
        try:
            return model_class.from_pretrained(source, config=config, attn_implementation="eager", **kwargs)
        except (OSError, ValueError):
            raise  # missing files: ``_from_source`` decides between disk and hub
        except Exception as exc:  # safetensors / torch raise many types for a corrupt file
            raise CheckpointMismatch(f"cannot load the weights in {source}: {type(exc).__name__}",
                                     _first_line(exc)) from exc
    return load


def _features(out: Any) -> torch.Tensor:
    """transformers 5 returns a ModelOutput whose ``pooler_output`` is the projected feature."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def keep_end_token(ids: torch.Tensor, mask: torch.Tensor | None, end_id: int) -> torch.Tensor:
    """Make the last real token of every row ``end_id`` when truncation cut it off (in place).

    The pooled end token carries the sentence embedding; a tokenizer that truncates it away
    would make a long caption pool a word instead.
    """
    lengths = mask.sum(dim=1) if mask is not None else torch.full((ids.shape[0],), ids.shape[1])
    for row, length in enumerate(lengths.tolist()):
        if length and not (ids[row, :length] == end_id).any():
            ids[row, length - 1] = end_id
    return ids


def _special_layout(tokenizer: Any) -> tuple[int, int | None]:
    """(special tokens before the first word, id of the closing special token or None)."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    start = next(i for i in range(len(full) - len(plain) + 1) if full[i:i + len(plain)] == plain)
    rest = full[start + len(plain):]
    return start, (rest[0] if rest else None)


class HFBackbone(Backbone):
    """Adapter over a transformers dual encoder (``CLIPModel``, ``ChineseCLIPModel``, ``SiglipModel``).

    Example:
        >>> from calibclip.backbones import load_backbone
        >>> model = load_backbone("hf:/models/clip-vit-base-patch16", device="cpu")  # doctest: +SKIP
        >>> model.encode_text(model.tokenize(["a man in a red coat"])).shape  # doctest: +SKIP
        torch.Size([1, 512])
    """

    name = "hf"

    def __init__(self, spec: BackboneSpec, device: torch.device, model: Any, processor: Any, tokenizer: Any,
                 family: _Family) -> None:
        super().__init__(spec, device)
        self.model = model.to(device).eval()
        self.processor = processor
        self.tokenizer = tokenizer
        self.family = family
        config = model.config
        self.embed_dim = int(getattr(config, "projection_dim", None) or config.vision_config.hidden_size)
        self.context_length = int(min(tokenizer.model_max_length, config.text_config.max_position_embeddings))
        self.image_size = (config.vision_config.image_size,) * 2
        self.supports_image_calibration = family.image_calibration
        self.text_prefix_tokens, self._end_id = _special_layout(tokenizer)

    @classmethod
    def load(cls, spec: BackboneSpec, device: torch.device) -> "HFBackbone":
        """Build from ``hf:/dir`` or ``hf:org/name``; the class follows ``config.json``'s ``model_type``."""
        transformers = _import_transformers()
        source = str(Path(spec.weights).expanduser()) if spec.weights else ""
        if not source:
            raise SpecError(f"backbone spec {spec.raw!r} names no model",
                            "use hf:/path/to/dir or hf:openai/clip-vit-base-patch16")
        if _is_local(source) and not Path(source).is_dir():
            raise WeightsNotFound(f"model directory not found: {source}", LOCAL_HINT)
        config = _from_source(transformers.AutoConfig.from_pretrained, source, "config.json")
        family = FAMILIES.get(config.model_type)
        if family is None:
            raise SpecError(f"{source}: model type {config.model_type!r} is not supported by the hf backbone",
                            f"supported model types: {', '.join(FAMILIES)}")
        model = _from_source(_model_loader(getattr(transformers, family.model_class), config), source, "model weights")
        processor = _from_source(transformers.AutoImageProcessor.from_pretrained, source, "image processor")
        tokenizer = _from_source(transformers.AutoTokenizer.from_pretrained, source, "tokenizer")
        if 2 * len(tokenizer) < config.text_config.vocab_size:  # transformers 5 builds an empty one
            raise WeightsNotFound(f"{source} has no tokenizer files ({len(tokenizer)} tokens for a "
                                  f"{config.text_config.vocab_size}-token model)", LOCAL_HINT)
        return cls(spec, device, model, processor, tokenizer, family)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self.processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"][0]

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        texts = list(texts)
        batch = self.tokenizer(texts or [""], padding=self.family.padding, truncation=True,
                               max_length=self.context_length, return_tensors="pt")
        if self._end_id is not None:
            keep_end_token(batch["input_ids"], batch.get("attention_mask"), self._end_id)
        return {key: value[:len(texts)] for key, value in batch.items()}  # tokenizers refuse an empty list

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return F.normalize(_features(self.model.get_image_features(pixel_values=pixels.to(self.device))), dim=-1)

    @torch.no_grad()
    def encode_text(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if not len(batch["input_ids"]):  # transformers cannot run an empty batch
            return torch.empty(0, self.embed_dim, device=self.device)
        return F.normalize(_features(self.model.get_text_features(**self._on_device(batch))), dim=-1)

    def _on_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {key: value.to(self.device) for key, value in batch.items()}

    # -- calibration hooks ------------------------------------------------------
    def _vit_layers(self, pixels: torch.Tensor) -> Iterator[VitParts]:
        if not self.supports_image_calibration:
            return super()._vit_layers(pixels)
        return self._vit_block_parts(pixels)

    def _vit_block_parts(self, pixels: torch.Tensor) -> Iterator[VitParts]:
        vision = self.model.vision_model
        x = vision.pre_layrnorm(vision.embeddings(pixels.to(self.device)))
        layers = vision.encoder.layers
        grid = self.image_size[0] // vision.config.patch_size
        for i, layer in enumerate(layers):
            attn = layer.self_attn  # plain q/k/v: the base applies the 1/sqrt(d) scale itself
            yield VitParts(
                hidden=x, ln_1=layer.layer_norm1, qkv=lambda t, a=attn: (a.q_proj(t), a.k_proj(t), a.v_proj(t)),
                out_proj=attn.out_proj, ln_2=layer.layer_norm2, mlp=layer.mlp,
                head=lambda t: self.model.visual_projection(vision.post_layernorm(t)),
                num_heads=attn.num_heads, grid=(grid, grid))
            if i < len(layers) - 1:
                out = layer(x, None)
                x = out[0] if isinstance(out, tuple) else out  # transformers 4 returned tuples

    def _vit_parts(self, pixels: torch.Tensor) -> VitParts:
        if not self.supports_image_calibration:
            return super()._vit_parts(pixels)
        return last_layer(self._vit_block_parts(pixels))

    def _text_attention(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One ``get_text_features`` pass with attentions; the pooled token's last-layer row."""
        batch = self._on_device(batch)
        ids = batch["input_ids"]
        if not len(ids):
            return self.encode_text(batch), ids.float(), ids[:, 0]
        out = self.model.get_text_features(**batch, output_attentions=True)
        attentions = None if isinstance(out, torch.Tensor) else out.attentions
        if not attentions or self._end_id is None:
            raise NotApplicable(f"backbone {self.spec.raw!r} returns no text attentions",
                                "text calibration (DCC) needs transformers >= 5 and a tokenizer with an end token")
        rows = torch.arange(ids.shape[0], device=ids.device)
        attention = attentions[-1][rows, :, self._pool_index(ids)].float().mean(dim=1)
        end = (ids == self._end_id).int().argmax(dim=-1)  # words stop at the first end token
        return F.normalize(_features(out), dim=-1), attention, end

    def _pool_index(self, ids: torch.Tensor) -> torch.Tensor:
        """The position the text model pools, found the way transformers finds it."""
        if self.family.pool == "first":
            return torch.zeros(ids.shape[0], dtype=torch.long, device=ids.device)
        if self.family.pool == "last":
            return torch.full((ids.shape[0],), ids.shape[1] - 1, dtype=torch.long, device=ids.device)
        eos = self.model.config.text_config.eos_token_id
        if eos == 2:  # configs from before transformers PR #24773 pool the highest id
            return ids.argmax(dim=-1)
        return (ids == eos).int().argmax(dim=-1)

    def _word_token_count(self, word: str) -> int:
        return len(self.tokenizer.tokenize(word))
