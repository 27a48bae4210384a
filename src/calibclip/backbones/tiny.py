"""``tiny`` backbone: the bundled demonstration TinyCLIP (or any TinyCLIP checkpoint).

Spec forms: ``tiny`` (the checkpoint shipped in ``calibclip/assets/tiny.pt``),
``tiny-web`` (the web-style demonstration model, ``assets/tiny-web.pt``),
``tiny:/path/to/ckpt.pt`` (one written by ``calibclip train``), ``tiny:none``
(random weights, for tests and benchmarks).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from calibclip.backbones.base import Backbone, VitParts, last_layer
from calibclip.backbones.cve_head import CveBackbone, CveHead
from calibclip.backbones.spec import BUNDLED_TINY
from calibclip.backbones.tiny_model import TinyCLIP, TinyConfig, TinyTokenizer
from calibclip.errors import CheckpointMismatch, WeightsNotFound
from calibclip.types import BackboneSpec

CHECKPOINT_FORMAT = "calibclip-tiny-v1"
# Vocabulary of a random-weight tiny model; trained checkpoints carry their own.
_RANDOM_VOCAB = ("a the man woman person wearing in with and of on red blue green black white yellow "
                 "coat shirt pants bag shoes hat dog cat car no not without").split()


def resize_uint8(image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """The tiny model's resize: squash to (H, W) with bicubic → (3, H, W) uint8 (no crop, no letterbox)."""
    h, w = size
    image = image.convert("RGB").resize((w, h), Image.BICUBIC)
    return torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(h, w, 3).permute(2, 0, 1)


def bundled_checkpoint(name: str = "tiny") -> Path:
    """Path of a shipped demonstration checkpoint (``tiny`` or ``tiny-web``)."""
    return Path(str(resources.files("calibclip") / "assets" / BUNDLED_TINY[name]))


def checkpoint_of(spec: BackboneSpec) -> Path:
    """The tiny checkpoint a (non-random) spec names: its weights path, or the bundled model it names."""
    return Path(spec.weights) if spec.weights else bundled_checkpoint(spec.arch or "tiny")


def save_tiny_checkpoint(model: TinyCLIP, path: str | Path, extra: dict[str, Any] | None = None,
                         half: bool = True, head: CveHead | None = None) -> Path:
    """Write ``model`` (and its CVE head, if any) with its config (fp16 weights by default: a small shipped file)."""
    def pack(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: (v.half() if half and v.is_floating_point() else v) for k, v in state.items()}

    blob = {"format": CHECKPOINT_FORMAT, "config": model.cfg.to_dict(), "state_dict": pack(model.state_dict()),
            "extra": extra or {}}
    if head is not None:
        blob["cve_head"] = {**head.to_dict(), "state_dict": pack(head.state_dict())}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(blob, path)
    return path


def update_checkpoint_extra(src: str | Path, dst: str | Path, updates: dict[str, Any]) -> Path:
    """Copy a tiny checkpoint to ``dst`` with ``updates`` merged into what it carries beside its weights.

    How a calibration preset, a diagnosis and word frequencies travel with the weights; the
    weights and their fp16 storage are copied unchanged.
    """
    blob = torch.load(Path(src), map_location="cpu", weights_only=True)
    if not is_tiny_blob(blob):
        raise CheckpointMismatch(f"{src} is not a calibclip tiny checkpoint")
    blob["extra"] = {**blob.get("extra", {}), **updates}
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(blob, dst)
    return dst


def load_tiny(path: str | Path) -> tuple[TinyCLIP, CveHead | None, dict[str, Any]]:
    """Load a checkpoint written by ``save_tiny_checkpoint`` → (model in fp32, CVE head or None, extra)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFound(f"tiny checkpoint not found: {path}",
                              "pass a file written by 'calibclip train', or 'tiny:none' for random weights")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise CheckpointMismatch(f"cannot read tiny checkpoint {path}: {type(exc).__name__}") from exc
    if not is_tiny_blob(blob):
        raise CheckpointMismatch(f"{path} is not a calibclip tiny checkpoint",
                                 "use openclip:/hf: specs for other CLIP weights")
    cfg = TinyConfig(**{**blob["config"], "image_size": tuple(blob["config"]["image_size"]),
                        "mean": tuple(blob["config"]["mean"]), "std": tuple(blob["config"]["std"])})
    model = TinyCLIP(cfg)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()})
    except RuntimeError as exc:
        raise CheckpointMismatch(f"tiny checkpoint {path} does not match its own config",
                                 str(exc).splitlines()[0]) from exc
    head = CveHead.from_dict(blob["cve_head"], str(path)) if "cve_head" in blob else None
    return model, head, blob.get("extra", {})


def load_tiny_model(path: str | Path) -> tuple[TinyCLIP, dict[str, Any]]:
    """The TinyCLIP network and the ``extra`` record of a tiny checkpoint (a CVE head in it is not loaded)."""
    model, _, extra = load_tiny(path)
    return model, extra


def is_tiny_blob(blob: Any) -> bool:
    """Whether a loaded file is a tiny checkpoint (``calibclip train`` writes them for the tiny model)."""
    return isinstance(blob, dict) and blob.get("format") == CHECKPOINT_FORMAT


class TinyBackbone(Backbone):
    """Adapter over ``TinyCLIP``."""

    name = "tiny"

    def __init__(self, spec: BackboneSpec, device: torch.device, model: TinyCLIP) -> None:
        super().__init__(spec, device)
        self.model = model.to(device).eval()
        cfg = model.cfg
        self.embed_dim = cfg.embed_dim
        self.context_length = cfg.context_length
        self.image_size = tuple(cfg.image_size)
        self.tokenizer = TinyTokenizer(cfg.vocab, cfg.context_length)
        self._mean = torch.tensor(cfg.mean).view(3, 1, 1)
        self._std = torch.tensor(cfg.std).view(3, 1, 1)

    @classmethod
    def load(cls, spec: BackboneSpec, device: torch.device) -> Backbone:
        if spec.random_init:
            torch.manual_seed(0)
            model = TinyCLIP(TinyConfig(vocab=list(_RANDOM_VOCAB)))
        else:
            model, head, extra = load_tiny(checkpoint_of(spec))
            backbone = cls(spec, device, model)
            backbone.calibration_preset = extra.get("calibration_preset")
            backbone.diagnosis = extra.get("diagnosis")
            backbone.word_df = extra.get("word_df")
            if head is not None:  # a checkpoint trained with a CVE head: the head is part of the model
                return CveBackbone(backbone, head)
            return backbone
        return cls(spec, device, model)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self.normalize(resize_uint8(image, self.image_size).float() / 255.0)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """Values in [0, 1], (..., 3, H, W) → the model's input (training augments before this)."""
        return (pixels - self._mean.to(pixels.device)) / self._std.to(pixels.device)

    def tokenize(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids, end index); ids stop after the batch's last end token (the causal tower never reads the padding)."""
        ids, eot = self.tokenizer(list(texts))
        return (ids[:, :int(eot.max()) + 1], eot) if len(eot) else (ids, eot)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model.encode_image(pixels.to(self.device))

    def trainable(self) -> TinyCLIP:
        return self.model

    def image_features(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        visual = self.model.visual
        x = visual.stem(pixels.to(self.device))
        for block in visual.blocks:
            x, _ = block(x)
        return visual.head(x[:, 0]), x  # what ``visual.forward`` computes, plus the tokens

    def text_features(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        ids, eot = batch
        length = int(eot.max()) + 1  # padding past the longest caption changes nothing (causal)
        return self.model.text(ids[:, :length].to(self.device), eot.to(self.device))[0]

    def encode_text(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        ids, eot = batch
        with torch.no_grad():
            return self.model.encode_text(ids.to(self.device), eot.to(self.device))

    def _vit_layers(self, pixels: torch.Tensor) -> Iterator[VitParts]:
        visual = self.model.visual
        x = visual.stem(pixels.to(self.device))
        for i, block in enumerate(visual.blocks):
            width = x.shape[-1]
            yield VitParts(
                hidden=x, ln_1=block.ln_1, qkv=lambda t, b=block, w=width: b.attn.qkv(t).split(w, dim=-1),
                out_proj=block.attn.out_proj, ln_2=block.ln_2, mlp=block.mlp, head=visual.head,
                num_heads=block.attn.heads, grid=visual.grid)
            if i < len(visual.blocks) - 1:
                x, _ = block(x)

    def _vit_parts(self, pixels: torch.Tensor) -> VitParts:
        return last_layer(self._vit_layers(pixels))

    def _text_attention(self, batch):
        ids, eot = (t.to(self.device) for t in batch)
        embedding, probs = self.model.text(ids, eot)
        rows = torch.arange(ids.shape[0], device=ids.device)
        attention = probs.mean(dim=1)[rows, eot]
        return F.normalize(embedding, dim=-1), attention, eot

    def _word_token_count(self, word: str) -> int:
        return len(self.tokenizer.split(word))
