"""Turn an ``openclip:`` spec into an open_clip model, its eval transform and its tokenizer.

Spec forms (the weights field after the architecture):

* ``openclip:ViT-B-16:openai`` — an open_clip pretrained tag (downloaded, or read from the cache);
* ``openclip:ViT-B-16:/path/w.bin`` — a local checkpoint, loaded by open_clip's own loader;
* ``openclip:ViT-B-16:openai=/path/w.bin`` — a local file holding a tag's weights: the tag's
  preprocessing and QuickGELU setting travel with it (open_clip issues #771 and #1068);
* ``openclip:ViT-B-16:none`` — random initialisation (seeded, so two loads agree).

The architecture may end in ``@HxW`` (``ViT-B-16@384x128``) to run at another input size; the
position embedding of loaded weights is resampled to the new patch grid (``resize_pos_embed``).
An original OpenAI TorchScript archive (``ViT-B-16.pt``) is recognised and loaded with QuickGELU.
Weights, preprocessing and quirks come from open_clip's own pretrained table, never guessed.
"""
from __future__ import annotations

import difflib
import logging
import os
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F

from calibclip.backbones.hub import why_not_downloaded
from calibclip.errors import CheckpointMismatch, SpecError, WeightsNotFound

log = logging.getLogger(__name__)

HUB_FILE = "open_clip_pytorch_model.bin"
_SIZE = re.compile(r"^(?P<arch>.+)@(?P<h>\d+)x(?P<w>\d+)$")
# Entries of a TorchScript state dict that are not weights (attn_mask: a scripted open_clip model).
_SCRIPT_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size", "attn_mask")
_PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")


def resize_pos_embed(pos_embed: torch.Tensor, old_grid: Sequence[int], new_grid: Sequence[int]) -> torch.Tensor:
    """Resample a ViT position table (prefix + g0*g1, W) to another patch grid.

    The prefix rows (the CLS token) are kept; the grid is interpolated bicubically with the
    settings of open_clip's own loader, but the old grid may be non-square (a 24×8 grid from a
    384×128 person-retrieval checkpoint), which open_clip's square-only resize cannot read.
    """
    old_grid, new_grid = tuple(int(g) for g in old_grid), tuple(int(g) for g in new_grid)
    prefix = pos_embed.shape[0] - old_grid[0] * old_grid[1]
    if prefix < 0:
        raise CheckpointMismatch(f"position embedding has {pos_embed.shape[0]} rows, fewer than a "
                                 f"{old_grid[0]}x{old_grid[1]} grid", "check the checkpoint's input size")
    if old_grid == new_grid:
        return pos_embed.clone()
    width = pos_embed.shape[-1]
    grid = pos_embed[prefix:].reshape(1, *old_grid, width).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=new_grid, mode="bicubic", antialias=True, align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(-1, width).to(pos_embed.dtype)
    return torch.cat([pos_embed[:prefix], grid])


def import_open_clip(needed_by: str = "the 'openclip' backbone") -> Any:
    """``open_clip``, or a one-line ``SpecError`` saying how to install it (not a bare ModuleNotFoundError)."""
    try:
        import open_clip
        import open_clip.model
        import open_clip.tokenizer
    except ImportError as exc:
        raise SpecError(f"{needed_by} needs open_clip, which is not installed (missing module {exc.name!r})",
                        "pip install 'open_clip_torch>=2.24'; it is a calibclip dependency, so installing "
                        "calibclip installs it") from exc
    return open_clip


def _split_arch(arch: str, image_size: Sequence[int] | None) -> tuple[str, tuple[int, int] | None]:
    """``ViT-B-16@384x128`` → (``ViT-B-16``, (384, 128)); an explicit ``image_size`` wins."""
    match = _SIZE.match(arch)
    if match:
        arch = match["arch"]
        image_size = image_size or (int(match["h"]), int(match["w"]))
    return arch, (tuple(int(s) for s in image_size) if image_size else None)


def _check_arch(open_clip: Any, arch: str) -> None:
    names = open_clip.list_models()
    if arch not in names:
        close = difflib.get_close_matches(arch, names, n=5, cutoff=0.5) or [
            n for n in ("ViT-B-16", "ViT-B-32", "ViT-L-14", "RN50") if n in names]
        raise SpecError(f"unknown open_clip architecture {arch!r}",
                        f"e.g. {', '.join(close)} (open_clip.list_models() has {len(names)})")


def _is_torchscript(path: Path) -> bool:
    """OpenAI released CLIP as TorchScript archives; nobody else ships CLIP that way."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.startswith((".", "~")) or Path(text).suffix in (
        ".bin", ".pt", ".pth", ".safetensors", ".npz")


@dataclass(frozen=True)
class _Weights:
    """Where the weights come from and the quirks that travel with them."""

    path: Path | None = None                            # local file; None = random init
    tag_cfg: dict = field(default_factory=dict)         # open_clip's pretrained cfg of the tag, if any
    scripted: bool = False                              # an OpenAI TorchScript archive

    @classmethod
    def at(cls, path: Path, tag_cfg: dict) -> "_Weights":
        return cls(path, tag_cfg, _is_torchscript(path))

    @property
    def quick_gelu(self) -> bool:
        return bool(self.tag_cfg.get("quick_gelu")) or self.scripted

    @property
    def preprocess(self) -> dict:
        """The tag's transform as ``create_model_and_transforms`` keywords (``image_mean``, ...)."""
        return {f"image_{k}": self.tag_cfg[k] for k in _PREPROCESS_KEYS if k in self.tag_cfg}


def _resolve_weights(open_clip: Any, arch: str, weights: str | None) -> _Weights:
    """Turn the spec's weights field into a local file plus the tag's preprocessing and quirks."""
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if weights is None:
        if not tags:
            raise WeightsNotFound(f"open_clip lists no pretrained weights for {arch!r}",
                                  f"pass openclip:{arch}:/path/to/weights.bin or openclip:{arch}:none")
        weights = "openai" if "openai" in tags else tags[0]
    if weights == "none":
        return _Weights()
    tag, sep, file = weights.partition("=")
    if Path(weights).expanduser().is_file() or (not sep and _looks_like_path(weights)):
        tag, file = "", weights
    tag = tag.lower().replace("-", "_")  # open_clip's own tag normalisation
    if tag and tag not in tags:
        raise SpecError(f"unknown open_clip tag {tag!r} for {arch}",
                        f"known tags: {', '.join(tags) or 'none'}; or pass a file path, or 'none'")
    tag_cfg = open_clip.get_pretrained_cfg(arch, tag) if tag else {}
    if file:
        path = Path(file).expanduser()
        if not path.is_file():
            raise WeightsNotFound(f"weights file not found: {path}",
                                  f"pass an existing file: openclip:{arch}:/path/to/{HUB_FILE}")
        return _Weights.at(path, tag_cfg)
    return _Weights.at(_download(open_clip, arch, tag, tag_cfg), tag_cfg)


def _download(open_clip: Any, arch: str, tag: str, tag_cfg: dict) -> Path:
    """The tag's file from the local cache, or from the network where there is one."""
    try:
        return Path(open_clip.download_pretrained(tag_cfg))
    except Exception as exc:  # huggingface_hub / urllib raise many types offline
        repo, file = os.path.split(tag_cfg.get("hf_hub", ""))
        where = f"https://huggingface.co/{repo}" if repo else tag_cfg.get("url") or "the open_clip hub"
        file = file or (os.path.basename(tag_cfg["url"]) if not repo and tag_cfg.get("url") else HUB_FILE)
        raise WeightsNotFound(
            f"cannot get open_clip weights {arch}/{tag}: not cached and not downloadable "
            f"({why_not_downloaded(exc)})",
            f"download {file} from {where} and pass openclip:{arch}:{tag}=/path/to/{file}") from exc


def _create(open_clip: Any, arch: str, weights: _Weights, image_size: tuple[int, int] | None) -> tuple[Any, Any]:
    """Build model + eval transform; checkpoint problems become ``CheckpointMismatch``."""
    plain_file = None if weights.scripted else weights.path
    if plain_file is not None and not weights.tag_cfg and "openai" in open_clip.list_pretrained_tags_by_model(arch):
        log.warning("loading %s as %s with GELU; if it holds OpenAI weights, use openclip:%s:openai=%s "
                    "(QuickGELU, open_clip #771)", plain_file, arch, arch, plain_file)
    try:
        model, _, transform = open_clip.create_model_and_transforms(
            arch, pretrained=str(plain_file) if plain_file else None, force_quick_gelu=weights.quick_gelu,
            force_image_size=image_size, **weights.preprocess)
        if weights.scripted:
            _load_torchscript(model, weights.path)
    except CheckpointMismatch:
        raise
    except OSError as exc:  # a text tower or config open_clip fetches from the hub
        raise _hub_files_missing(arch, exc) from exc
    except Exception as exc:  # torch.load / load_state_dict raise many types for a bad file
        raise CheckpointMismatch(f"cannot load {weights.path} into open_clip {arch}: {type(exc).__name__}",
                                 " ".join(str(exc).split())[:200]) from exc
    return model, transform


def _hub_files_missing(arch: str, exc: OSError) -> WeightsNotFound:
    return WeightsNotFound(f"open_clip {arch} needs files from the Hugging Face hub that are not cached "
                           f"({' '.join(str(exc).split())[:120]})",
                           "run it once with network to fill the cache, or pick another architecture")


def _load_torchscript(model: torch.nn.Module, path: Path) -> None:
    """Load an OpenAI TorchScript archive's weights (open_clip's loader refuses them with weights_only)."""
    with warnings.catch_warnings():  # torch deprecates TorchScript, but OpenAI's files are in it
        warnings.simplefilter("ignore", FutureWarning)
        state = torch.jit.load(str(path), map_location="cpu").state_dict()
    for key in _SCRIPT_EXTRA_KEYS:
        state.pop(key, None)
    old, new = state.get("visual.positional_embedding"), getattr(model.visual, "positional_embedding", None)
    if old is not None and new is not None and old.shape != new.shape:  # OpenAI grids are square
        side = int(round((old.shape[0] - 1) ** 0.5))
        state["visual.positional_embedding"] = resize_pos_embed(old, (side, side), model.visual.grid_size)
    model.load_state_dict(state, strict=True)


def _check_image_size(open_clip: Any, arch: str, image_size: tuple[int, int]) -> None:
    patch = open_clip.get_model_config(arch)["vision_cfg"].get("patch_size")
    if patch and any(s <= 0 or s % patch for s in image_size):
        raise SpecError(f"image size {image_size[0]}x{image_size[1]} is not a multiple of {arch}'s patch "
                        f"size {patch}", f"use e.g. {arch}@384x128")


class OpenClipParts(NamedTuple):
    """What ``create_open_clip`` builds."""

    arch: str
    model: Any
    transform: Callable
    tokenizer: Any
    embed_dim: int


def create_open_clip(arch_field: str, weights: str | None,
                     image_size: Sequence[int] | None = None) -> OpenClipParts:
    """Build model, eval transform and tokenizer from the spec's ``ARCH[@HxW]`` and weights fields."""
    open_clip = import_open_clip()
    arch, image_size = _split_arch(arch_field, image_size)
    _check_arch(open_clip, arch)
    if image_size is not None:
        _check_image_size(open_clip, arch, image_size)
    try:
        tokenizer = open_clip.get_tokenizer(arch)
    except OSError as exc:  # SigLIP / HF text towers fetch their tokenizer from the hub
        raise _hub_files_missing(arch, exc) from exc
    resolved = _resolve_weights(open_clip, arch, weights)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model, transform = _create(open_clip, arch, resolved, image_size)
    return OpenClipParts(arch, model, transform, tokenizer, int(open_clip.get_model_config(arch)["embed_dim"]))
