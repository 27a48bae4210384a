"""Does a ViT have the tokens CVE corrects? Per-layer statistics of its patch tokens and CLS attention.

The pathology CalibCLIP's visual side targets, as we read it (docs/methods/diagnose.md):
a few tokens on low-information patches take a large share of the CLS
attention and carry global rather than local content. In large CLIP ViTs these
are the high-norm "register" tokens (Darcet et al. 2023). Per block, over a set
of images, we measure:

* ``norm_max`` / ``share_3x``: the largest patch-token norm over the image's
  median (block input), and the share of patch tokens above 3× the median;
* ``top1`` / ``top5``: the share of the CLS attention over patches held by the
  top 1% / 5% of patches;
* ``value_ratio``: the top 1%'s share of the CLS output (attention × value
  norm) over their share of the attention (< 1: attended but contributing
  little, an attention sink; ≈ 1: proportional);
* ``top_flat`` / ``top_similar``: how often the most-attended patch is
  low-information in pixels (standard deviation ≤ the image's median; mean
  colour closer to its neighbours' than the median patch);
* ``register_rate``: how often an image has a token ≥ ``norm_outlier`` × the
  median norm holding ≥ ``dominance`` × the uniform attention share (what
  CVE's default ``register`` selection suppresses).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from calibclip.backbones.base import Backbone, VitParts, cls_attention_and_values
from calibclip.calibration.cve import patch_pixel_std, token_norm_ratio

COLUMNS = ("layer", "norm_max", "share_3x", "top1", "top5", "value_ratio", "top_flat", "top_similar",
           "register_rate")


@dataclass
class VisionLayerStats:
    """One block's statistics, means over images (shares in percent)."""

    layer: int
    norm_max: float
    share_3x: float
    top1: float
    top5: float
    value_ratio: float
    top_flat: float
    top_similar: float
    register_rate: float

    def row(self) -> dict[str, float]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def neighbour_colour_distance(pixels: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(N, P) distance of each patch's mean colour to the mean colour of its (existing) 8 neighbours."""
    colour = F.adaptive_avg_pool2d(pixels.float(), grid)  # (N, 3, rows, cols)
    window = torch.ones(1, 1, 3, 3, dtype=colour.dtype)
    window[0, 0, 1, 1] = 0
    channels = colour.shape[1]
    total = F.conv2d(colour, window.repeat(channels, 1, 1, 1), padding=1, groups=channels)
    count = F.conv2d(torch.ones_like(colour[:, :1]), window, padding=1).clamp_min(1)
    return (colour - total / count).norm(dim=1).flatten(1)


def _layer_arrays(parts: VitParts, pixels: torch.Tensor, norm_outlier: float,
                  dominance: float) -> dict[str, np.ndarray]:
    """Per-image values of every statistic for one block (N entries each)."""
    prefix = parts.num_prefix
    probs, values = cls_attention_and_values(parts)
    attention = probs.mean(dim=1)[:, prefix:].float()
    contribution = (probs * values.norm(dim=-1)).mean(dim=1)[:, prefix:].float()
    mass, count = attention.sum(dim=1), attention.shape[1]
    k1, k5 = max(1, round(0.01 * count)), max(1, round(0.05 * count))
    order = attention.argsort(dim=1, descending=True)
    top1_attention = attention.gather(1, order[:, :k1]).sum(dim=1) / mass
    top1_value = contribution.gather(1, order[:, :k1]).sum(dim=1) / contribution.sum(dim=1).clamp_min(1e-12)
    norms = token_norm_ratio(parts.hidden, prefix)
    std = patch_pixel_std(pixels, parts.grid)
    distance = neighbour_colour_distance(pixels, parts.grid)
    top = order[:, :1]
    registers = (norms >= norm_outlier) & (attention >= dominance * (mass / count)[:, None])
    arrays = {
        "norm_max": norms.max(dim=1).values, "share_3x": 100 * (norms >= 3).float().mean(dim=1),
        "top1": 100 * top1_attention, "top5": 100 * attention.gather(1, order[:, :k5]).sum(dim=1) / mass,
        "value_ratio": top1_value / top1_attention.clamp_min(1e-12),
        "top_flat": 100 * (std.gather(1, top) <= std.median(dim=1, keepdim=True).values).float().squeeze(1),
        "top_similar": 100 * (distance.gather(1, top) <= distance.median(dim=1, keepdim=True).values)
        .float().squeeze(1),
        "register_rate": 100 * registers.any(dim=1).float(),
    }
    return {k: v.detach().cpu().numpy() for k, v in arrays.items()}


@torch.no_grad()
def vision_layer_stats(backbone: Backbone, batches: Iterable[torch.Tensor], norm_outlier: float = 3.0,
                       dominance: float = 2.0) -> list[VisionLayerStats]:
    """Per-block statistics over every image of ``batches`` (preprocessed pixel tensors)."""
    collected: list[dict[str, list[np.ndarray]]] = []
    for pixels in batches:
        pixels = pixels.to(backbone.device)
        for i, parts in enumerate(backbone.vit_layer_parts(pixels)):
            if len(collected) <= i:
                collected.append({})
            for key, value in _layer_arrays(parts, pixels, norm_outlier, dominance).items():
                collected[i].setdefault(key, []).append(value)
    last_only = len(collected) == 1  # an adapter that exposes only its last block: layer -1
    return [VisionLayerStats(layer=-1 if last_only else i, **{k: float(np.concatenate(v).mean())
                                                             for k, v in layer.items()})
            for i, layer in enumerate(collected)]


__all__ = ["VisionLayerStats", "vision_layer_stats", "neighbour_colour_distance", "COLUMNS"]
