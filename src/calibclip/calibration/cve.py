"""CVE: find the patches that dominate the CLS token and recompute the image embedding without them.

Training-free reading of CalibCLIP's visual calibration (Kang et al., ACM MM
2025, DOI 10.1145/3746027.3755765): a patch is *dominant* when the last block's
CLS attention on it stands out from its k×k neighbourhood (a large uniform
region is context, a sharp peak is what hides the details). The CLS output of
the last block is then recomputed with the dominant patches' attention scaled
by ``decay`` and renormalised, so the embedding weighs the remaining details.
Only the CLS path of the last block changes; patch states are never touched.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from calibclip.backbones.base import Backbone, VitParts
from calibclip.calibration.checks import require_int, require_number
from calibclip.config import CalibrationConfig
from calibclip.errors import ConfigError, NotApplicable


@dataclass(frozen=True)
class CalibratedImages:
    """Both embeddings of a batch (kept side by side for the two-stage ranking).

    Attributes:
        original: (N, D) L2-normalised plain embedding (same as ``encode_image``).
        calibrated: (N, D) L2-normalised embedding with dominant patches suppressed.
        dominant: (N, L) bool, True on dominant patch tokens (prefix tokens never).
        cls_attention: (N, L) the last block's CLS attention, mean over heads.
        grid: (rows, cols) of the patch grid.
        num_prefix: non-patch tokens before the grid.
    """

    original: torch.Tensor
    calibrated: torch.Tensor
    dominant: torch.Tensor
    cls_attention: torch.Tensor
    grid: tuple[int, int]
    num_prefix: int


def dominant_mask(cls_attention: torch.Tensor, grid: tuple[int, int], num_prefix: int,
                  ratio: float, neighbourhood: int = 3) -> torch.Tensor:
    """Mark the top ``ratio`` of patches by attention minus the mean of their k×k neighbours.

    Args:
        cls_attention: (N, L) CLS attention, L = num_prefix + rows * cols.
        grid: (rows, cols) of the patch grid, row-major after the prefix.
        num_prefix: leading non-patch tokens; they are never dominant.
        ratio: share of patches marked (at least one).
        neighbourhood: odd window size k; the patch itself is excluded from its
            neighbours' mean and border patches use the neighbours that exist.

    Returns:
        (N, L) bool mask. Ties in contrast go to the lower patch index.
    """
    rows, cols = grid
    n, length = cls_attention.shape
    if length != num_prefix + rows * cols:
        raise ValueError(f"attention has {length} tokens, grid {grid} + {num_prefix} prefix needs "
                         f"{num_prefix + rows * cols}")
    _check_mask_args(ratio, neighbourhood)
    patches = cls_attention[:, num_prefix:].float().reshape(n, 1, rows, cols)
    window = torch.ones(1, 1, neighbourhood, neighbourhood, dtype=patches.dtype, device=patches.device)
    pad = neighbourhood // 2
    window_sum = F.conv2d(patches, window, padding=pad)
    count = F.conv2d(torch.ones_like(patches), window, padding=pad)
    neighbour_mean = (window_sum - patches) / (count - 1).clamp_min(1)
    contrast = (patches - neighbour_mean).reshape(n, rows * cols)
    chosen = max(1, int(ratio * rows * cols + 0.5))  # rounded half up, as DCC's word count
    order = torch.argsort(contrast, dim=1, descending=True, stable=True)[:, :chosen]
    mask = torch.zeros(n, length, dtype=torch.bool, device=cls_attention.device)
    mask[:, num_prefix:].scatter_(1, order, True)
    return mask


def _check_mask_args(ratio: float, neighbourhood: int) -> None:
    require_number("dominant_ratio", ratio, 0.0, 1.0, "the default is 0.1", lo_open=True)
    if require_int("neighbourhood", neighbourhood, 3, "use 3 (3×3) or 5 (5×5)") % 2 == 0:
        raise ConfigError(f"calibration knob neighbourhood must be odd, got {neighbourhood}", "use 3 (3×3) or 5 (5×5)")


def check_cve_config(cfg: CalibrationConfig) -> None:
    """Validate the CVE knobs of ``cfg`` (raises ``ConfigError`` naming the bad one)."""
    _check_mask_args(cfg.dominant_ratio, cfg.neighbourhood)
    require_number("decay", cfg.decay, 0.0, 1.0, "1 switches the decay off, the default is 0.1")
    require_number("contrast_alpha", cfg.contrast_alpha, 0.0, float("inf"), "0 switches the contrast off")


def require_vit(backbone: Backbone) -> None:
    """Raise ``NotApplicable`` for backbones without ViT CLS attention (ResNets, pooled heads)."""
    if not backbone.supports_image_calibration:
        raise NotApplicable(f"CVE is not applicable to backbone {backbone.spec.raw!r}: it has no ViT CLS attention",
                            "use a ViT backbone, or set cve_enabled: false")


@torch.no_grad()
def calibrate_images(backbone: Backbone, pixels: torch.Tensor, cfg: CalibrationConfig,
                     parts: VitParts | None = None) -> CalibratedImages:
    """Original and calibrated embeddings of a pixel batch from one pass over the first L-1 blocks.

    ``parts`` from ``backbone.vit_parts(pixels)`` lets several configs share that pass (knob sweeps).

    With ``cfg.contrast_alpha`` α > 0 the calibrated embedding is further pushed
    away from what the dominant patches alone say: normalize(c + α·(o − d)),
    where c is the decay-calibrated embedding, o the original and d the CLS
    recomputed attending only to the dominant patches (and itself). With
    ``decay = 1`` this is exactly the contrast form o + α·(o − d).
    """
    require_vit(backbone)
    check_cve_config(cfg)
    parts = parts if parts is not None else backbone.vit_parts(pixels)
    tokens = backbone.image_tokens(pixels, parts=parts)
    mask = dominant_mask(tokens.cls_attention, tokens.grid, tokens.num_prefix, cfg.dominant_ratio, cfg.neighbourhood)
    original = backbone.image_from_tokens(pixels, parts=parts)
    scale = torch.where(mask, torch.full_like(tokens.cls_attention, cfg.decay), torch.ones_like(tokens.cls_attention))
    # decay 1 scales nothing: reuse the original so "CVE off" is bit-exact plain CLIP in either first stage
    calibrated = original if cfg.decay == 1.0 else backbone.image_from_tokens(pixels, scale, parts=parts)
    if cfg.contrast_alpha > 0:
        only = mask.clone()
        only[:, : tokens.num_prefix] = True
        dominant_only = backbone.image_from_tokens(pixels, only.to(tokens.cls_attention.dtype), parts=parts)
        calibrated = F.normalize(calibrated + cfg.contrast_alpha * (original - dominant_only), dim=-1)
    return CalibratedImages(original=original, calibrated=calibrated, dominant=mask,
                            cls_attention=tokens.cls_attention, grid=tokens.grid, num_prefix=tokens.num_prefix)


__all__ = ["CalibratedImages", "dominant_mask", "calibrate_images", "check_cve_config", "require_vit"]
