"""``longclip`` backbone: Long-CLIP checkpoints (248 text positions) in an open_clip ``CLIP``.

Long-CLIP (Zhang et al., 2024; github beichenzbc/Long-CLIP, ``model/model_longclip.py``) is
OpenAI CLIP with QuickGELU whose text tower reads 248 positions through two tables: the first
20 rows of ``positional_embedding`` and rows 20… of ``positional_embedding_res`` (its
``mask1``/``mask2`` split). The masks partition the positions, so one table holding rows
0–19 of the first and 20–247 of the second is exactly the same model; with it the checkpoint
is an ordinary open_clip ``CLIP`` at context length 248, and the open_clip adapter's hooks apply.

Spec: ``longclip:ViT-B-16:/path/longclip-B.pt`` (``ViT-L-14`` with ``longclip-L.pt``), or
``longclip:ARCH:none`` for random weights. Tokenizer: open_clip's BPE at 248 tokens, truncation
keeping the end token, as Long-CLIP's ``tokenize(..., truncate=True)``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from calibclip.backbones.openclip import OpenClipBackbone
from calibclip.backbones.openclip_load import _check_arch, import_open_clip
from calibclip.backbones.weights_file import load_state, read_weights_file
from calibclip.errors import CheckpointMismatch, SpecError, WeightsNotFound
from calibclip.types import BackboneSpec

CONTEXT_LENGTH = 248
KEEP_POSITIONS = 20  # rows of CLIP's own table Long-CLIP keeps (its mask1)
RELEASES = {"ViT-B-16": ("LongCLIP-B", "longclip-B.pt"), "ViT-L-14": ("LongCLIP-L", "longclip-L.pt")}
_NOT_WEIGHTS = ("input_resolution", "context_length", "vocab_size")  # OpenAI extras Long-CLIP drops too


def fold_positions(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Long-CLIP's two text position tables → one (N, W) table; other entries are returned as they are."""
    if "positional_embedding_res" not in state:
        raise CheckpointMismatch("not a Long-CLIP checkpoint: it has no 'positional_embedding_res'",
                                 "a plain CLIP file loads with openclip:ARCH:openai=/path/to/file")
    state = {k: v for k, v in state.items() if k not in _NOT_WEIGHTS}
    pos, res = state.pop("positional_embedding"), state.pop("positional_embedding_res")
    if pos.shape != res.shape or pos.shape[0] != CONTEXT_LENGTH:
        raise CheckpointMismatch(f"Long-CLIP position tables have shapes {tuple(pos.shape)} and {tuple(res.shape)}",
                                 f"expected two ({CONTEXT_LENGTH}, width) tables")
    state["positional_embedding"] = torch.cat([pos[:KEEP_POSITIONS], res[KEEP_POSITIONS:]])
    return state


def _read_state(arch: str, weights: str | None) -> dict[str, torch.Tensor]:
    if not weights:
        repo, file = RELEASES.get(arch, ("LongCLIP-B", "longclip-B.pt"))
        raise WeightsNotFound(f"longclip:{arch} names no weights file",
                              f"download {file} from https://huggingface.co/BeichenZhang/{repo} and pass "
                              f"longclip:{arch}:/path/to/{file} (or longclip:{arch}:none for random weights)")
    state = read_weights_file(Path(weights).expanduser(), "Long-CLIP checkpoint",
                              "longclip-B.pt / longclip-L.pt (the state dict Long-CLIP's train.py saves)")
    return fold_positions(state)


def create_long_clip(arch: str, weights: str | None) -> tuple[Any, Any, Any, int]:
    """open_clip ``CLIP`` (QuickGELU, 248 positions) + eval transform + tokenizer + embed dim."""
    open_clip = import_open_clip()
    _check_arch(open_clip, arch)
    tokenizer = open_clip.get_tokenizer(arch, context_length=CONTEXT_LENGTH)
    if not isinstance(tokenizer, open_clip.tokenizer.SimpleTokenizer):
        raise SpecError(f"{arch} does not use CLIP's BPE tokenizer, so it cannot hold Long-CLIP weights",
                        "use longclip:ViT-B-16 or longclip:ViT-L-14")
    state = None if weights == "none" else _read_state(arch, weights)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = open_clip.create_model(arch, force_quick_gelu=True, force_context_length=CONTEXT_LENGTH)
    if state is not None:
        load_state(model, state, weights, f"Long-CLIP {arch}")
    transform = open_clip.image_transform(model.visual.image_size, is_train=False)  # OpenAI mean/std, crop
    return model.eval(), transform, tokenizer, int(open_clip.get_model_config(arch)["embed_dim"])


class LongClipBackbone(OpenClipBackbone):
    """Long-CLIP: an open_clip ``CLIP`` adapter whose text tower reads 248 tokens.

    Example:
        >>> from calibclip.backbones import load_backbone
        >>> model = load_backbone("longclip:ViT-B-16:/models/longclip-B.pt", device="cpu")  # doctest: +SKIP
        >>> model.context_length  # doctest: +SKIP
        248
    """

    name = "longclip"

    @classmethod
    def load(cls, spec: BackboneSpec, device: torch.device) -> "LongClipBackbone":
        """Build from ``longclip:ARCH:PATH|none``."""
        model, transform, tokenizer, embed_dim = create_long_clip(spec.arch or "", spec.weights)
        return cls(spec, device, model, transform, tokenizer, embed_dim)
