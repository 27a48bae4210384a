"""Read a local weights file into a dict and load it into a model, with the one-line errors every adapter gives."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from calibclip.errors import CheckpointMismatch, WeightsNotFound


def read_weights_file(path: Path, what: str, expected: str) -> dict[str, Any]:
    """``torch.load`` (weights only) a checkpoint that must be a non-empty dict.

    Args:
        path: the local file the spec names.
        what: the kind of checkpoint, for messages ("Long-CLIP checkpoint").
        expected: the file a user should pass instead ("longclip-B.pt / longclip-L.pt").
    """
    if not path.is_file():
        raise WeightsNotFound(f"{what} not found: {path}", f"pass an existing {expected}, or 'none' for random weights")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise CheckpointMismatch(f"cannot read {what} {path}: {type(exc).__name__}", f"expected {expected}") from exc
    if not isinstance(blob, dict) or not blob:
        raise CheckpointMismatch(f"{path} holds no state dict", f"expected {expected}")
    return blob


def load_state(model: torch.nn.Module, state: dict[str, Any], path: Path | str, what: str) -> None:
    """``load_state_dict`` (strict) that reports a shape or key mismatch as one line naming the file."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointMismatch(f"{path} does not fit {what}", " ".join(str(exc).split())[:200]) from exc
