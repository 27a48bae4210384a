"""Read CLIP checkpoints of several origins and load them into the seed model.

Accepted files (``.pt``/``.pth``/``.bin``/``.safetensors``):

* ours: ``CalibCLIP.save`` writes ``{"format", "config", "state_dict"}``;
* OpenAI CLIP: the released TorchScript archive, or its state dict;
* open_clip: a state dict, or a training checkpoint ``{"state_dict": ...}``
  (``module.`` prefixes from DistributedDataParallel are dropped);
* IRRA (github.com/anosorae/IRRA, ``utils/checkpoint.py``): ``{"model": ...}``
  whose CLIP weights sit under ``base_model.``; IRRA's own heads
  (``cross_attn``, ``mlm_head``, ``classifier``, ...) are ignored.

All of these name CLIP weights the way OpenAI's ``model.py`` does, which is also
open_clip's ``CLIP`` naming, so one loader serves them. Pickles are read with
``weights_only=True``: a file holding arbitrary Python objects is refused, not run.
"""
from __future__ import annotations

import logging
import math
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from calibclip.backbones.openclip import resize_pos_embed
from calibclip.errors import CheckpointMismatch, CorruptData, WeightsNotFound

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "calibclip-seed-v1"
POS_EMBED_KEY = "visual.positional_embedding"
# Entries of a TorchScript state dict that are buffers or metadata, not weights.
_SCRIPT_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size", "attn_mask")
_HINT = "pass a CLIP ViT checkpoint: ours (CalibCLIP.save), OpenAI/open_clip CLIP, or IRRA"


@dataclass
class Checkpoint:
    """A checkpoint read from disk, reduced to CLIP-named weights.

    Attributes:
        kind: "calibclip", "openai-torchscript", "irra" or "state-dict".
        state_dict: weights under OpenAI/open_clip CLIP names.
        config: the seed config saved with our own checkpoints (else empty).
        path: the file it came from (for messages).
        cve_head: config + weights of a trained CVE head (ours, when trained with one).
    """

    kind: str
    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    cve_head: dict[str, Any] | None = None


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read any accepted checkpoint file into a ``Checkpoint`` (no model needed)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFound(f"checkpoint not found: {path}", _HINT)
    blob, kind = _read_file(path)
    if kind == "calibclip":
        return Checkpoint(kind, blob["state_dict"], dict(blob.get("config") or {}), str(path), blob.get("cve_head"))
    if isinstance(blob, dict) and isinstance(blob.get("model"), dict):
        kind, blob = "irra", blob["model"]
    elif isinstance(blob, dict) and isinstance(blob.get("state_dict"), dict):
        blob = blob["state_dict"]
    if not isinstance(blob, dict) or not blob:
        raise CheckpointMismatch(f"{path} holds no state dict", _HINT)
    return Checkpoint(kind, _clip_weights(blob), path=str(path))


def _read_file(path: Path) -> tuple[Any, str]:
    """Decode the file → (object, kind); kind is refined by ``read_checkpoint``."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path)), "state-dict"
        if _is_torchscript(path):
            with warnings.catch_warnings():  # torch deprecates TorchScript; OpenAI's files still use it
                warnings.simplefilter("ignore", FutureWarning)
                return torch.jit.load(str(path), map_location="cpu").state_dict(), "openai-torchscript"
        blob = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch/safetensors raise many types for unreadable files
        raise CorruptData(f"cannot read checkpoint {path}: {' '.join(str(exc).split())[:160]}",
                          "the file is truncated, not a PyTorch/safetensors file, or holds Python objects; "
                          "re-save its state_dict") from exc
    from calibclip.backbones.tiny import is_tiny_blob

    if is_tiny_blob(blob):
        raise CheckpointMismatch(f"{path} is a tiny checkpoint, not a CLIP ViT",
                                 f"load it with load_backbone('tiny:{path}') or calibclip evaluate --checkpoint")
    is_ours = isinstance(blob, dict) and blob.get("format") == CHECKPOINT_FORMAT
    return blob, "calibclip" if is_ours else "state-dict"


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives (OpenAI's CLIP release) are zip files carrying compiled code."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") for name in archive.namelist())


def is_tiny_file(path: str | Path) -> bool:
    """Whether ``path`` is a tiny checkpoint, read from the pickle's header (not the weights)."""
    from calibclip.backbones.tiny import CHECKPOINT_FORMAT as TINY_FORMAT

    path = Path(path)
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        header = [name for name in archive.namelist() if name.endswith("/data.pkl")]
        return bool(header) and TINY_FORMAT.encode() in archive.read(header[0])


def _clip_weights(state_dict: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Keep tensors, drop ``module.`` prefixes, and keep only ``base_model.*`` when present (IRRA)."""
    tensors = {_strip(k, "module."): v for k, v in state_dict.items() if isinstance(v, torch.Tensor)}
    if any(k.startswith("base_model.") for k in tensors):
        dropped = sorted({k.split(".")[0] for k in tensors if not k.startswith("base_model.")})
        if dropped:
            log.info("ignoring non-CLIP heads of the checkpoint: %s", ", ".join(dropped))
        tensors = {_strip(k, "base_model."): v for k, v in tensors.items() if k.startswith("base_model.")}
    return {k: v for k, v in tensors.items() if k not in _SCRIPT_EXTRA_KEYS}


def _strip(key: str, prefix: str) -> str:
    return key[len(prefix):] if key.startswith(prefix) else key


def load_clip_weights(model: nn.Module, ckpt: Checkpoint) -> None:
    """Load ``ckpt`` into an open_clip ``CLIP``, resizing a square image position grid when needed.

    The match is strict both ways: a missing weight, a wrong shape or a weight
    the model has no place for (a deeper checkpoint than the model) raises
    ``CheckpointMismatch`` naming the first offending key, so nothing is half-loaded.
    """
    target = model.state_dict()
    weights = dict(ckpt.state_dict)
    if POS_EMBED_KEY in weights and POS_EMBED_KEY in target:
        weights[POS_EMBED_KEY] = _fit_pos_embed(weights[POS_EMBED_KEY], tuple(model.visual.grid_size), ckpt)
    missing = [k for k in target if k not in weights]
    unused = [k for k in weights if k not in target]
    if missing or unused:
        what = (f"lacks {len(missing)} weight(s) of the model, first: {missing[0]}" if missing
                else f"has {len(unused)} weight(s) the model lacks, first: {unused[0]}")
        raise CheckpointMismatch(f"checkpoint {ckpt.path} {what}",
                                 "build the model with the architecture the checkpoint was trained with")
    for key, expected in target.items():
        if weights[key].shape != expected.shape:
            raise CheckpointMismatch(
                f"checkpoint {ckpt.path}: {key} has shape {tuple(weights[key].shape)}, "
                f"the model expects {tuple(expected.shape)}",
                "build the model with the architecture the checkpoint was trained with")
    model.load_state_dict(weights)


def _fit_pos_embed(pos_embed: torch.Tensor, grid: tuple[int, int], ckpt: Checkpoint) -> torch.Tensor:
    """Interpolate a square pretraining grid (OpenAI: 14×14 at 224 px) to the model's grid."""
    tokens = pos_embed.shape[0] - 1
    if tokens == grid[0] * grid[1]:
        return pos_embed
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise CheckpointMismatch(
            f"checkpoint {ckpt.path}: {POS_EMBED_KEY} has {tokens} patch positions, not a square grid, "
            f"and the model expects a {grid[0]}x{grid[1]} grid",
            "build the model at the image size the checkpoint was trained with")
    log.info("interpolating %s from a %dx%d to a %dx%d grid", POS_EMBED_KEY, side, side, *grid)
    return resize_pos_embed(pos_embed, (side, side), grid)


__all__ = ["Checkpoint", "CHECKPOINT_FORMAT", "read_checkpoint", "load_clip_weights", "is_tiny_file"]
