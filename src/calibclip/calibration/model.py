"""The seed API model: ``CalibCLIP`` and ``build_calibclip``.

``build_calibclip`` builds the person-retrieval CLIP of the CalibCLIP paper
(Kang et al., ACM MM 2025): CLIP ViT-B/16 with OpenAI's QuickGELU at a 384×128
input (a 24×8 patch grid), as IRRA (github.com/anosorae/IRRA) does, from the
``model:``/``data:`` sections of the seed config. The network is open_clip's
``CLIP`` and it is driven through the ``openclip`` adapter, so calibration
(CVE, DCC) works on it as on any other backbone. Weights come from any file
``checkpoints.read_checkpoint`` reads.

Example:
    >>> from calibclip import build_calibclip
    >>> model = build_calibclip(pretrained="checkpoints/calibclip_cuhkpedes.pth",
    ...                         embed_dim=512, vision_layers=12, text_layers=12)
    >>> model.eval().encode_text(["a woman in a red dress"]).shape
    torch.Size([1, 512])
"""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from calibclip.calibration.checkpoints import (CHECKPOINT_FORMAT, Checkpoint, is_tiny_file, load_clip_weights,
                                              read_checkpoint)
from calibclip.backbones import resolve_device
from calibclip.backbones.base import Backbone
from calibclip.backbones.openclip_load import import_open_clip
from calibclip.calibration.seed_config import SEED_BACKBONE, DataCfg, ModelCfg, SeedConfig, seed_config_dict
from calibclip.config import CalibrationConfig, apply_overrides, from_dict
from calibclip.errors import CheckpointMismatch, ConfigError, WeightsNotFound
from calibclip.types import BackboneSpec

log = logging.getLogger(__name__)

_HEAD_WIDTH = 64  # OpenAI CLIP: vision heads = width / 64
_ARCH_KEYS = ("embed_dim", "vision_layers", "vision_width", "vision_patch_size", "text_layers",
              "text_width", "text_heads", "vocab_size", "quick_gelu")


NEEDS = "the seed CalibCLIP model (build_calibclip, scripts/evaluate.py)"

class CalibCLIP(nn.Module):
    """A CLIP ViT plus the CalibCLIP settings it is evaluated with.

    Attributes:
        clip: the open_clip ``CLIP`` network (the module whose weights are saved).
        cve_head: the trained CVE head (``model.cve``), or None.
        backbone: the network (with its CVE head) behind the ``Backbone``
            interface (what retrieval, calibration and evaluation use).
        config: the full seed config (architecture, input size, calibration).
    """

    def __init__(self, clip: nn.Module, config: SeedConfig, source: str = "none",
                 cve_head: nn.Module | None = None) -> None:
        super().__init__()
        from calibclip.backbones.openclip import OpenClipBackbone
        from calibclip.datasets.transforms import build_transforms

        self.clip = clip
        self.config = config
        spec = BackboneSpec(family="calibclip", arch="CalibCLIP", weights=source, raw=f"calibclip:{source}")
        self.backbone = OpenClipBackbone(
            spec, _device_of(clip), clip, build_transforms(is_train=False, image_size=config.data.image_size),
            import_open_clip(NEEDS).tokenizer.SimpleTokenizer(context_length=config.data.max_length),
            config.model.embed_dim)
        self.cve_head = cve_head
        if cve_head is not None:
            from calibclip.backbones.cve_head import CveBackbone

            self.backbone = CveBackbone(self.backbone, cve_head)

    @property
    def calibration(self) -> CalibrationConfig:
        """The training-free calibration knobs (the config's ``calibration:`` section)."""
        return self.config.calibration

    @property
    def device(self) -> torch.device:
        """Where the network's weights are (kept in step by ``to``)."""
        return self.backbone.device

    def preprocess(self, image: Any) -> torch.Tensor:
        """PIL image → (3, H, W): ``build_transforms(is_train=False, image_size=data.image_size)``."""
        return self.backbone.preprocess(image)

    def encode_image(self, pixels: torch.Tensor, calibrated: bool = False) -> torch.Tensor:
        """(N, 3, H, W) → (N, D) L2-normalised; ``calibrated`` gives the CVE embedding."""
        if not calibrated:
            return self.backbone.encode_image(pixels)
        from calibclip.calibration.cve import calibrate_images

        return calibrate_images(self.backbone, pixels.to(self.device), self.calibration).calibrated

    def encode_text(self, texts: str | Sequence[str] | torch.Tensor) -> torch.Tensor:
        """Captions (or token ids from ``tokenize``) → (N, D) L2-normalised."""
        if isinstance(texts, str):
            texts = [texts]
        batch = texts if isinstance(texts, torch.Tensor) else self.backbone.tokenize(texts)
        return self.backbone.encode_text(batch)

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """CLIP BPE ids (N, max_length); long captions are cut keeping the end token."""
        return self.backbone.tokenize(texts)

    def to(self, *args: Any, **kwargs: Any) -> "CalibCLIP":
        """Move the network and point the backbone (and the one it wraps) at its new device."""
        super().to(*args, **kwargs)
        self.backbone.device = _device_of(self.clip)
        if self.cve_head is not None:
            self.backbone.inner.device = self.backbone.device
        return self

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write config + weights (+ CVE head, + ``extra`` notes); ``build_calibclip(pretrained=path)`` reads it.

        The file is written beside the target and renamed over it, so an
        interrupted save never leaves a truncated checkpoint in its place.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.clip.state_dict().items()}
        blob = {"format": CHECKPOINT_FORMAT, "config": seed_config_dict(self.config), "state_dict": state,
                "extra": extra or {}}
        if self.cve_head is not None:
            blob["cve_head"] = self.cve_head.to_dict()
        partial = path.with_name(f".{path.name}.partial")
        torch.save(blob, partial)
        os.replace(partial, path)
        return path


def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def build_calibclip(pretrained: str | Path | None = None, embed_dim: int | None = None,
                    vision_layers: int | None = None, text_layers: int | None = None, *,
                    config: SeedConfig | None = None, device: str | torch.device = "cpu",
                    **kw: Any) -> CalibCLIP:
    """Build the seed CalibCLIP model, optionally loading weights.

    Args:
        pretrained: a checkpoint file (ours, OpenAI/open_clip CLIP ViT, IRRA), or
            None / "none" for seeded random weights.
        embed_dim: embedding width (None: from ``config``, else from our checkpoint's
            saved config, else ViT-B/16's 512).
        vision_layers: image-tower depth (None: as ``embed_dim``; ViT-B/16: 12).
        text_layers: text-tower depth (None: as ``embed_dim``; ViT-B/16: 12).
        config: a full ``SeedConfig`` (e.g. ``load_seed_config("configs/cuhkpedes.yaml")``).
        device: where the model lives.
        **kw: any other ``model:`` key (``vision_width``, ``text_heads``, ...),
            ``image_size``/``max_length`` (``data:``), or ``calibration`` (dict or
            ``CalibrationConfig``).

    Raises:
        CheckpointMismatch: the file's weights do not fit the requested architecture.
    """
    import_open_clip(NEEDS)  # before anything else: a missing dependency is the first thing to fix
    source = "none" if pretrained is None or str(pretrained) == "none" else str(pretrained)
    ckpt = None if source == "none" else read_checkpoint(source)
    overrides = dict(kw, embed_dim=embed_dim, vision_layers=vision_layers, text_layers=text_layers)
    cfg = _resolve_config(ckpt, config, overrides)
    clip = _build_clip(cfg)
    if ckpt is not None:
        load_clip_weights(clip, ckpt)
    return CalibCLIP(clip, cfg, source, _cve_head(ckpt, cfg)).to(resolve_device(device)).eval()


def _cve_head(ckpt: Checkpoint | None, cfg: SeedConfig) -> nn.Module | None:
    """The trained CVE head a checkpoint carries, unless ``model.cve.enabled`` is false."""
    if ckpt is None or ckpt.cve_head is None:
        return None
    if not cfg.model.cve.enabled:
        log.info("model.cve.enabled is false: the CVE head in %s is not used", ckpt.path)
        return None
    from calibclip.backbones.cve_head import CveHead

    return CveHead.from_dict(ckpt.cve_head, ckpt.path)


def load_seed_model(cfg: SeedConfig, checkpoint: str | Path | None = None,
                    device: str | torch.device = "auto") -> CalibCLIP | Backbone:
    """The model a seed config asks for: ``build_calibclip`` for ``backbone: calibclip``, else that backbone.

    The ``calibclip`` model needs ``checkpoint`` (``"none"`` asks for random
    weights on purpose); other backbones carry their weights in the spec.
    """
    from calibclip.backbones import load_backbone

    device = resolve_device(device)
    if cfg.backbone != SEED_BACKBONE:
        if checkpoint is not None:
            raise ConfigError(f"--checkpoint applies to the calibclip model, not to backbone {cfg.backbone!r}",
                              "put the weights in the spec (e.g. openclip:ViT-B-16:/path/w.bin), or drop --backbone")
        return load_backbone(cfg.backbone, device)
    if checkpoint is None:
        raise WeightsNotFound("no checkpoint for the calibclip model",
                              "pass --checkpoint FILE (ours, OpenAI/open_clip CLIP ViT-B/16 or IRRA), "
                              "--checkpoint none for random weights, or --backbone SPEC")
    if is_tiny_file(checkpoint):  # ``calibclip train`` on the tiny model writes these
        return load_backbone(f"tiny:{checkpoint}", device)
    return build_calibclip(checkpoint, config=cfg, device=device)


def _resolve_config(ckpt: Checkpoint | None, config: SeedConfig | None, overrides: dict[str, Any]) -> SeedConfig:
    """Start from ``config`` (or our checkpoint's own, or the defaults) and apply keyword overrides."""
    saved = from_dict(SeedConfig, ckpt.config, where=f"config saved in {ckpt.path}") if ckpt and ckpt.config else None
    cfg = config or saved or SeedConfig()
    data_keys = {f.name for f in dataclasses.fields(DataCfg)}
    model_kw = {k: v for k, v in overrides.items() if k not in data_keys and k != "calibration"}
    data_kw = {k: v for k, v in overrides.items() if k in data_keys}
    calibration = overrides.get("calibration")
    if isinstance(calibration, dict):
        calibration = apply_overrides(cfg.calibration, calibration)
    cfg = dataclasses.replace(cfg, model=apply_overrides(cfg.model, model_kw),
                              data=apply_overrides(cfg.data, data_kw),
                              calibration=calibration or cfg.calibration)
    if saved is not None:
        _check_same_arch(cfg, saved, ckpt.path)
    return cfg


def _check_same_arch(cfg: SeedConfig, saved: SeedConfig, path: str) -> None:
    """Our checkpoints record their architecture: a request for another one is refused, not half-loaded."""
    pairs = [(f"model.{k}", getattr(cfg.model, k), getattr(saved.model, k)) for k in _ARCH_KEYS]
    pairs += [("data.image_size", cfg.data.image_size, saved.data.image_size),
              ("data.max_length", cfg.data.max_length, saved.data.max_length)]
    for key, asked, stored in pairs:
        if asked != stored:
            raise CheckpointMismatch(f"checkpoint {path} was saved with {key}={stored}, the model asks for {asked}",
                                     "use the config the checkpoint was trained with, or leave that key unset")


def _build_clip(cfg: SeedConfig) -> nn.Module:
    """open_clip ``CLIP`` of the configured shape, seeded so two random builds agree."""
    open_clip = import_open_clip(NEEDS)
    CLIP, CLIPTextCfg, CLIPVisionCfg = open_clip.model.CLIP, open_clip.model.CLIPTextCfg, open_clip.model.CLIPVisionCfg

    model, (height, width) = cfg.model, cfg.data.image_size
    _check_shape(model, height, width)
    vision = CLIPVisionCfg(layers=model.vision_layers, width=model.vision_width, head_width=_HEAD_WIDTH,
                           patch_size=model.vision_patch_size, image_size=(height, width))
    text = CLIPTextCfg(context_length=cfg.data.max_length, vocab_size=model.vocab_size, width=model.text_width,
                       heads=model.text_heads, layers=model.text_layers)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return CLIP(model.embed_dim, vision, text, quick_gelu=model.quick_gelu)


def _check_shape(model: ModelCfg, height: int, width: int) -> None:
    patch = model.vision_patch_size
    problems = [
        (height % patch or width % patch, f"data.image_size {height}x{width} is not a multiple of "
                                          f"vision_patch_size {patch}"),
        (model.vision_width % _HEAD_WIDTH, f"model.vision_width {model.vision_width} is not a multiple of 64"),
        (model.text_width % model.text_heads, f"model.text_width {model.text_width} is not divisible by "
                                              f"text_heads {model.text_heads}"),
    ]
    for bad, message in problems:
        if bad:
            raise ConfigError(message, "fix the model:/data: section of the config")


__all__ = ["CalibCLIP", "build_calibclip", "load_seed_model"]
