"""Backbone adapters behind one interface, created from spec strings.

A new family is one adapter module plus one ``BACKBONES.register`` line here.

Example:
    >>> from calibclip.backbones import load_backbone
    >>> model = load_backbone("tiny")
    >>> model.encode_text(model.tokenize(["a man in a red coat"])).shape[-1] == model.embed_dim
    True
"""
from __future__ import annotations

import torch

from calibclip.backbones.base import Backbone, split_words
from calibclip.backbones.spec import parse_spec
from calibclip.registry import Registry

BACKBONES = Registry("backbone family")
BACKBONES.register("tiny", "calibclip.backbones.tiny:TinyBackbone")
BACKBONES.register("openclip", "calibclip.backbones.openclip:OpenClipBackbone")
BACKBONES.register("hf", "calibclip.backbones.hf:HFBackbone")
BACKBONES.register("cnclip", "calibclip.backbones.cnclip:CnClipBackbone")
BACKBONES.register("longclip", "calibclip.backbones.longclip:LongClipBackbone")
BACKBONES.register("fgclip", "calibclip.backbones.fgclip:FgClipBackbone")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_backbone(spec: str, device: str | torch.device | None = "auto") -> Backbone:
    """Create a backbone adapter from a spec string (see ``calibclip.backbones.spec``)."""
    parsed = parse_spec(spec)
    adapter = BACKBONES.get(parsed.family)
    return adapter.load(parsed, resolve_device(device))


def list_backbones() -> list[str]:
    """Registered backbone families."""
    return BACKBONES.names()


__all__ = ["Backbone", "BACKBONES", "load_backbone", "list_backbones", "resolve_device", "split_words"]
