"""CVE: find the low-information tokens that dominate the CLS token and recompute the image embedding.

CalibCLIP (Kang et al., ACM MM 2025, DOI 10.1145/3746027.3755765) "decouples
visual features into target and low-information regions, then identifies
dominant tokens and suppresses them". Our reading, in three steps (the paper's
exact tests are unpublished; the public code kane2kang/CalibCLIP takes the top
10% of patches by CLS attention with no low-information test):

1. **Low information**: the high-norm "register" tokens of large CLIP ViTs
   (Darcet et al. 2023; register neurons in CLIP ViT-B/16, Jiang et al. 2025)
   sit on redundant background patches and no longer describe their patch:
   they carry global information. ``dominant_select: register`` (default)
   takes a patch token whose norm entering the last block is ≥
   ``norm_outlier`` × the image's median as low-information.
   ``dominant_select: flat`` is the pixel reading instead (the patch's pixel
   standard deviation at or below the image's ``low_info_quantile``); on
   person images it also takes the flat regions of a big coat, i.e. the target.
2. **Dominant** (``dominant_mask``): a low-information patch holding at least
   ``dominance`` × the uniform share of the CLS attention over patches; at most
   ``dominant_ratio`` of the patches, the most attended first. A backbone
   without such tokens (``tiny``: its attention peaks on the person) gets no
   dominant tokens, so CVE leaves it exactly as it is.
3. **Suppression**: the last block's CLS output is recomputed with the dominant
   patches' attention scaled by ``decay`` (or, ``decay_mode: adaptive``, scaled
   down to the median patch attention, so the more dominant a token the
   stronger its suppression) and renormalised. Patch states are never touched.

``dominant_select: attention`` is the public code's rule and ``random`` the
cheap control (random patches at the same ratio), both measured in
docs/methods/calibclip.md.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from calibclip.backbones.base import Backbone, VitParts
from calibclip.calibration.checks import require_choice, require_number
from calibclip.calibration.presets import resolve_calibration
from calibclip.config import CalibrationConfig
from calibclip.errors import NotApplicable

SELECTIONS = ("register", "flat", "attention", "random")
DECAY_MODES = ("constant", "adaptive")
# every knob the calibrated image embedding depends on (an index stores vectors made under them)
CVE_KNOBS = ("cve_enabled", "dominant_select", "dominant_ratio", "dominance", "low_info_quantile", "norm_outlier",
             "decay", "decay_mode", "contrast_alpha", "random_seed")


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
        low_info: (N, L) bool, True on low-information patch tokens (register/flat selections only).
    """

    original: torch.Tensor
    calibrated: torch.Tensor
    dominant: torch.Tensor
    cls_attention: torch.Tensor
    grid: tuple[int, int]
    num_prefix: int
    low_info: torch.Tensor | None = None


def patch_pixel_std(pixels: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) model input → (N, rows·cols) pixel standard deviation of each patch's region."""
    x = pixels.float()
    mean = F.adaptive_avg_pool2d(x, grid)
    square = F.adaptive_avg_pool2d(x * x, grid)
    return (square - mean * mean).clamp_min(0).mean(dim=1).sqrt().flatten(1)


def token_norm_ratio(hidden: torch.Tensor, num_prefix: int) -> torch.Tensor:
    """(N, L, W) tokens → (N, P) patch-token norm over the image's median patch-token norm."""
    norms = hidden[:, num_prefix:].float().norm(dim=-1)
    return norms / norms.median(dim=1, keepdim=True).values.clamp_min(1e-12)


def low_information(select: str, pixel_std: torch.Tensor, norm_ratio: torch.Tensor, quantile: float,
                    norm_outlier: float) -> torch.Tensor:
    """(N, P) bool low-information patches: norm outliers (``register``) or flat pixels (``flat``)."""
    if select == "register":
        return norm_ratio >= norm_outlier
    return pixel_std <= torch.quantile(pixel_std, quantile, dim=1, keepdim=True)


def dominant_mask(cls_attention: torch.Tensor, num_prefix: int, ratio: float, select: str = "attention",
                  low_info: torch.Tensor | None = None, dominance: float = 0.0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Mark the dominant patch tokens.

    Args:
        cls_attention: (N, L) CLS attention, prefix tokens first.
        num_prefix: leading non-patch tokens; they are never dominant.
        ratio: at most this share of the patches is marked (``attention``/``random``: exactly, at least one).
        select: ``register``/``flat`` (candidates = ``low_info`` patches with attention ≥ ``dominance`` ×
            the uniform patch share; may mark none), ``attention`` (the most attended) or ``random``.
        low_info: (N, P) bool candidates for ``register``/``flat``.
        dominance: minimum attention relative to the uniform share for ``register``/``flat``.
        generator: seeds ``random``.

    Returns:
        (N, L) bool mask. Ties in attention go to the lower patch index.
    """
    require_number("dominant_ratio", ratio, 0.0, 1.0, "the default is 0.1", lo_open=True)
    require_choice("dominant_select", select, SELECTIONS)
    n, length = cls_attention.shape
    patches = cls_attention[:, num_prefix:].float()
    count = max(1, int(ratio * patches.shape[1] + 0.5))  # rounded half up, as DCC's word count
    if select == "random":
        score = torch.rand(patches.shape, generator=generator).to(patches.device)
    else:
        score = patches.clone()
    gated = select in ("register", "flat")
    if gated:
        if low_info is None:
            raise ValueError(f"{select} selection needs the low-information mask")
        uniform = patches.sum(dim=1, keepdim=True) / patches.shape[1]
        eligible = low_info & (patches >= dominance * uniform)
        score = torch.where(eligible, score, torch.full_like(score, -1.0))
    order = torch.argsort(score, dim=1, descending=True, stable=True)[:, :count]
    chosen = torch.zeros_like(patches, dtype=torch.bool).scatter_(1, order, True)
    if gated:
        chosen &= eligible
    mask = torch.zeros(n, length, dtype=torch.bool, device=cls_attention.device)
    mask[:, num_prefix:] = chosen
    return mask


def attention_scale(cls_attention: torch.Tensor, mask: torch.Tensor, num_prefix: int, decay: float,
                    mode: str) -> torch.Tensor:
    """(N, L) multiplier on the CLS attention: 1 off the mask; ``decay``, or down to the median patch."""
    if mode == "constant":
        return torch.where(mask, torch.full_like(cls_attention, decay), torch.ones_like(cls_attention))
    median = cls_attention[:, num_prefix:].median(dim=1, keepdim=True).values
    scale = (median / cls_attention.clamp_min(1e-12)).clamp(max=1.0)
    return torch.where(mask, scale, torch.ones_like(cls_attention))


def check_cve_config(cfg: CalibrationConfig) -> None:
    """Validate the CVE knobs of a resolved ``cfg`` (raises ``ConfigError`` naming the bad one)."""
    require_choice("dominant_select", cfg.dominant_select, SELECTIONS)
    require_number("dominant_ratio", cfg.dominant_ratio, 0.0, 1.0, "the default is 0.1", lo_open=True)
    require_number("dominance", cfg.dominance, 0.0, float("inf"), "the default is 2 (twice the uniform share)")
    require_number("low_info_quantile", cfg.low_info_quantile, 0.0, 1.0, "the default is 0.5")
    require_number("norm_outlier", cfg.norm_outlier, 1.0, float("inf"), "the default is 3 (× the median norm)")
    require_number("decay", cfg.decay, 0.0, 1.0, "1 switches the decay off, the default is 0.1")
    require_choice("decay_mode", cfg.decay_mode, DECAY_MODES)
    require_number("contrast_alpha", cfg.contrast_alpha, 0.0, float("inf"), "0 switches the contrast off")


def require_vit(backbone: Backbone) -> None:
    """Raise ``NotApplicable`` for backbones without ViT CLS attention (ResNets, pooled heads)."""
    if not backbone.supports_image_calibration:
        raise NotApplicable(f"CVE is not applicable to backbone {backbone.spec.raw!r}: it has no ViT CLS attention",
                            "use a ViT backbone, or set cve_enabled: false")


def select_dominant(pixels: torch.Tensor, parts: VitParts, cls_attention: torch.Tensor,
                    cfg: CalibrationConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The dominant mask of ``cfg``'s selection rule, and the (N, L) low-information mask it used (or None)."""
    if cfg.dominant_select not in ("register", "flat"):
        generator = torch.Generator().manual_seed(int(cfg.random_seed))
        return dominant_mask(cls_attention, parts.num_prefix, cfg.dominant_ratio, cfg.dominant_select,
                             generator=generator), None
    low = low_information(cfg.dominant_select, patch_pixel_std(pixels, parts.grid),
                          token_norm_ratio(parts.hidden, parts.num_prefix), cfg.low_info_quantile, cfg.norm_outlier)
    mask = dominant_mask(cls_attention, parts.num_prefix, cfg.dominant_ratio, cfg.dominant_select, low,
                         cfg.dominance)
    full = torch.zeros_like(mask)
    full[:, parts.num_prefix:] = low
    return mask, full


@torch.no_grad()
def calibrate_images(backbone: Backbone, pixels: torch.Tensor, cfg: CalibrationConfig | None = None,
                     parts: VitParts | None = None) -> CalibratedImages:
    """Original and calibrated embeddings of a pixel batch from one pass over the first L-1 blocks.

    ``cfg`` is resolved against the backbone's preset (unset knobs). ``parts`` from
    ``backbone.vit_parts(pixels)`` lets several configs share that pass (knob sweeps).

    With ``cfg.contrast_alpha`` α > 0 the calibrated embedding is further pushed
    away from what the dominant patches alone say: normalize(c + α·(o − d)),
    where c is the decay-calibrated embedding, o the original and d the CLS
    recomputed attending only to the dominant patches (and itself).
    """
    require_vit(backbone)
    cfg = resolve_calibration(cfg, backbone)
    check_cve_config(cfg)
    parts = parts if parts is not None else backbone.vit_parts(pixels)
    tokens = backbone.image_tokens(pixels, parts=parts)
    mask, low = select_dominant(pixels, parts, tokens.cls_attention, cfg)
    original = backbone.image_from_tokens(pixels, parts=parts)
    scale = attention_scale(tokens.cls_attention, mask, tokens.num_prefix, cfg.decay, cfg.decay_mode)
    # an image with nothing scaled keeps its original embedding, so "CVE off" (decay 1, or no dominant
    # token) is bit-exact plain CLIP whatever the rest of the batch does
    touched = (scale != 1).any(dim=1) | (mask.any(dim=1) & (cfg.contrast_alpha > 0))
    calibrated = original
    if bool(touched.any()):
        calibrated = original if cfg.decay_mode == "constant" and cfg.decay == 1.0 else \
            backbone.image_from_tokens(pixels, scale, parts=parts)
        if cfg.contrast_alpha > 0:
            only = mask.clone()
            only[:, : tokens.num_prefix] = True
            dominant_only = backbone.image_from_tokens(pixels, only.to(tokens.cls_attention.dtype), parts=parts)
            calibrated = F.normalize(calibrated + cfg.contrast_alpha * (original - dominant_only), dim=-1)
        calibrated = torch.where(touched[:, None], calibrated, original)
    return CalibratedImages(original=original, calibrated=calibrated, dominant=mask,
                            cls_attention=tokens.cls_attention, grid=tokens.grid, num_prefix=tokens.num_prefix,
                            low_info=low)


__all__ = ["CalibratedImages", "dominant_mask", "low_information", "patch_pixel_std", "token_norm_ratio",
           "attention_scale", "select_dominant", "calibrate_images", "check_cve_config", "require_vit",
           "SELECTIONS", "DECAY_MODES", "CVE_KNOBS"]
