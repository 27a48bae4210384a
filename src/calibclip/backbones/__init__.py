"""Backbone adapters behind one interface, created from spec strings.

A new family is one adapter module plus one ``BACKBONES.register`` line here.

Example:
    >>> from calibclip.backbones import load_backbone
    >>> model = load_backbone("tiny")
    >>> model.encode_text(model.tokenize(["a man in a red coat"])).shape[-1] == model.embed_dim
    True
"""
from __future__ import annotations

import logging

import torch

from calibclip.backbones.base import Backbone, split_words
from calibclip.backbones.spec import parse_spec
from calibclip.registry import Registry

log = logging.getLogger(__name__)
BACKBONES = Registry("backbone family")
BACKBONES.register("tiny", "calibclip.backbones.tiny:TinyBackbone")
BACKBONES.register("openclip", "calibclip.backbones.openclip:OpenClipBackbone")
BACKBONES.register("hf", "calibclip.backbones.hf:HFBackbone")
BACKBONES.register("cnclip", "calibclip.backbones.cnclip:CnClipBackbone")
BACKBONES.register("longclip", "calibclip.backbones.longclip:LongClipBackbone")
BACKBONES.register("fgclip", "calibclip.backbones.fgclip:FgClipBackbone")
BACKBONES.register("planted", "calibclip.backbones.planted:PlantedBackbone")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; ``cuda`` on a machine without CUDA runs on the CPU.

    The fallback logs a warning, so code written for a GPU (the seed README's
    ``Evaluator(model, device="cuda")``) runs as printed on a CPU machine.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        log.warning("device %r requested but CUDA is not available here: running on the CPU", str(device))
        return torch.device("cpu")
    return resolved


def load_backbone(spec: str, device: str | torch.device | None = "auto") -> Backbone:
    """Create a backbone adapter from a spec string (see ``calibclip.backbones.spec``).

    Local files and caches come first; a hub name that is not cached fails at once, with one
    line, when the hub cannot be reached (whatever ``HF_HUB_OFFLINE`` says).
    """
    from calibclip.backbones.hub import hub_access

    parsed = parse_spec(spec)
    adapter = BACKBONES.get(parsed.family)
    with hub_access():
        return adapter.load(parsed, resolve_device(device))


def list_backbones() -> list[str]:
    """Registered backbone families."""
    return BACKBONES.names()


__all__ = ["Backbone", "BACKBONES", "load_backbone", "list_backbones", "resolve_device", "split_words"]
