"""The model a training run updates, for each supported family, and how it is saved.

* ``tiny``: a new TinyCLIP (``model:``, vocabulary from the training captions)
  or a tiny checkpoint to fine-tune (``init: tiny`` is the bundled one);
  written as a tiny checkpoint, loaded with ``tiny:PATH``.
* ``calibclip``: the seed model, an open_clip CLIP ViT (``clip:``, the seed
  config's ``model:``/``data:``), from any file ``build_calibclip`` reads
  (OpenAI or open_clip ViT-B/16, IRRA, ours) or random weights; written by
  ``CalibCLIP.save``, loaded by ``build_calibclip(pretrained=PATH)``.

With ``cve.enabled`` a CVE head (``calibclip.backbones.cve_head``) sits on the
image side; its zero-initialised output leaves the first step's embeddings
exactly the backbone's.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from calibclip.backbones.base import Backbone
from calibclip.backbones.cve_head import CveBackbone, CveHead, CveHeadConfig
from calibclip.backbones.spec import BUNDLED_TINY
from calibclip.backbones.tiny import TinyBackbone, bundled_checkpoint, load_tiny, save_tiny_checkpoint
from calibclip.backbones.tiny_model import TinyCLIP, TinyConfig
from calibclip.calibration.seed_config import CveCfg
from calibclip.config import to_dict
from calibclip.training.config import TrainConfig, seed_model_config
from calibclip.training.data import build_vocab
from calibclip.types import BackboneSpec

log = logging.getLogger(__name__)


@dataclass
class Trainee:
    """A model being trained.

    Attributes:
        backbone: what training and validation encode with (a ``CveBackbone`` when a head is trained).
        module: every trained parameter (the network, and the head).
        logit_scale: the network's learned log inverse temperature.
        arch: what a resumed run must match.
        save: write a loadable checkpoint with an ``extra`` record → its path.
        final_name: file name of the run's deliverable.
    """

    backbone: Backbone
    module: nn.Module
    logit_scale: nn.Parameter
    arch: dict[str, Any]
    save: Callable[[Path, dict[str, Any]], Path]
    final_name: str


def build_trainee(cfg: TrainConfig, captions: list[str], device: torch.device) -> Trainee:
    """The ``cfg.backbone`` model at ``cfg.init`` (plus a new CVE head when ``cve.enabled``), on ``device``."""
    return (_tiny(cfg, captions, device) if cfg.backbone == "tiny" else _calibclip(cfg, device))


def input_size(cfg: TrainConfig) -> tuple[int, int]:
    """(H, W) the model to train takes: the init checkpoint's for tiny fine-tuning, else the config's."""
    if cfg.backbone == "tiny":
        if cfg.init is None:
            return tuple(cfg.model.image_size)
        return tuple(load_tiny(_tiny_init(cfg.init))[0].cfg.image_size)
    return tuple(seed_model_config(cfg).data.image_size)


def build_model(cfg: TrainConfig, captions: list[str]) -> TinyCLIP:
    """A fresh TinyCLIP whose vocabulary is every training word."""
    arch = {k: v for k, v in to_dict(cfg.model).items() if k != "min_word_count"}
    vocab = build_vocab(captions, cfg.model.min_word_count)
    return TinyCLIP(TinyConfig(**arch, vocab=vocab))


def new_head(cve: CveCfg, width: int, embed_dim: int) -> CveHead:
    """A zero-output CVE head of the configured shape for a backbone of token ``width``."""
    return CveHead(CveHeadConfig(width=width, embed_dim=embed_dim, num_heads=cve.num_heads,
                                 num_layers=cve.num_layers, dropout=cve.dropout))


def _head(cfg: TrainConfig, loaded: CveHead | None, width: int, embed_dim: int) -> CveHead | None:
    if not cfg.cve.enabled:
        if loaded is not None:
            log.warning("cve.enabled is false: the CVE head of %s is dropped", cfg.init)
        return None
    return loaded if loaded is not None else new_head(cfg.cve, width, embed_dim)


def _tiny(cfg: TrainConfig, captions: list[str], device: torch.device) -> Trainee:
    if cfg.init is None:
        model, loaded = build_model(cfg, captions), None
    else:
        model, loaded, _ = load_tiny(_tiny_init(cfg.init))
    head = _head(cfg, loaded, model.cfg.vision_width, model.cfg.embed_dim)
    backbone: Backbone = TinyBackbone(BackboneSpec(family="tiny", raw="tiny:training"), device, model)
    if head is not None:
        backbone = CveBackbone(backbone, head)
    arch = {"tiny": model.cfg.to_dict(), "cve": to_dict(head.cfg) if head else None}
    return Trainee(backbone, backbone.trainable(), model.logit_scale, arch,
                   lambda path, extra: save_tiny_checkpoint(model, path, extra, head=head), "tiny.pt")


def _tiny_init(init: str) -> Path:
    """``tiny`` / ``tiny-web`` name a shipped checkpoint; anything else is a path."""
    return bundled_checkpoint(init) if init in BUNDLED_TINY else Path(init)


def _calibclip(cfg: TrainConfig, device: torch.device) -> Trainee:
    from calibclip.calibration.model import CalibCLIP, build_calibclip
    from calibclip.calibration.seed_config import seed_config_dict

    seed = seed_model_config(cfg)
    model = build_calibclip(cfg.init or "none", config=seed, device=device)
    head = _head(cfg, model.cve_head, model.clip.visual.transformer.width, seed.model.embed_dim)
    model = CalibCLIP(model.clip, seed, model.backbone.spec.weights or "none", head).to(device)
    shape = {k: v for k, v in seed_config_dict(seed)["model"].items() if k not in ("cve", "dcc")}
    arch = {"clip": shape, "data": seed_config_dict(seed)["data"],
            "cve": to_dict(head.cfg) if head else None}
    return Trainee(model.backbone, model, model.clip.logit_scale, arch, model.save, "calibclip.pth")


__all__ = ["Trainee", "build_trainee", "build_model", "new_head", "input_size"]
