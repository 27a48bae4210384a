"""``calibclip diagnose``: does a backbone have what CVE and DCC correct? Numbers and a verdict per method.

Verdict rules (ours, fixed before any measurement; docs/methods/diagnose.md):

* **CVE applies** when, in the last block, at least ``REGISTER_RATE`` % of the
  images have a register token: a patch token ≥ ``norm_outlier`` × the median
  norm holding ≥ ``dominance`` × the uniform share of the CLS attention (the
  tokens CVE's default ``register`` selection suppresses).
* **DCC applies** when at least ``MIN_DOMINATED`` % of the captions are
  dominated by one word (``diagnose_text``), the end token's word attention
  tracks how general a word is (Spearman ≥ ``MIN_SPEARMAN`` against document
  frequency) and, where retrieval can be measured, masking the dominating word
  of those captions costs no more R@1 than masking a random word
  (+ ``MASKING_SLACK`` points): the dominating words are general, not the
  discriminative ones.

The verdicts are cached per backbone (``calibration.diagnosis_cache``) so that
``CalibratedRetriever`` warns when calibration is enabled where it has nothing
to correct.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from calibclip.backbones.base import Backbone
from calibclip.calibration.presets import resolve_calibration
from calibclip.datasets.images import IMAGE_SUFFIXES
from calibclip.errors import DatasetLayoutError, NotApplicable
from calibclip.evaluation.diagnose_text import TextStats, text_stats
from calibclip.evaluation.diagnose_vision import VisionLayerStats, vision_layer_stats
from calibclip.index.encode import iter_pixel_batches

REGISTER_RATE = 50.0   # % of images with a register token for CVE to apply
MIN_SPEARMAN = 0.2     # attention ~ generality correlation for DCC to apply
MASKING_SLACK = 1.0    # R@1 points masking the top word may cost beyond a random word
MIN_DOMINATED = 10.0   # % of captions dominated by one word for DCC to have anything to act on


@dataclass
class DiagnosisData:
    """What a diagnosis runs on: images (vision), captions (text), ids linking them (retrieval)."""

    description: str
    images: list[Path] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    caption_ids: np.ndarray | None = None
    image_ids: np.ndarray | None = None


@dataclass
class Diagnosis:
    """Per-layer vision statistics, text statistics, and a verdict per method."""

    backbone: str
    data: str
    images: int
    vision: list[VisionLayerStats] | None
    text: TextStats | None
    verdicts: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"backbone": self.backbone, "data": self.data, "images": self.images,
                "vision": [v.row() for v in self.vision] if self.vision else None,
                "text": asdict(self.text) if self.text else None, "verdicts": self.verdicts}


def load_data(data: str | Path | None = None, images: str | Path | None = None,
              captions: str | Path | None = None, max_images: int = 256) -> DiagnosisData:
    """A person set (``data``: any supported layout, test split), an image folder, and/or a captions file."""
    if data is not None:
        from calibclip.datasets.pedes import load_pedes

        split = load_pedes(data, "test")
        keep = min(max_images, len(split.image_paths))
        chosen = np.flatnonzero(split.caption_image_index < keep)
        return DiagnosisData(f"{data} (test split, {keep} images)", list(split.image_paths[:keep]),
                             [split.captions[i] for i in chosen], split.caption_pids[chosen],
                             split.image_pids[:keep])
    out = DiagnosisData(", ".join(str(p) for p in (images, captions) if p is not None))
    if images is not None:
        root = Path(images)
        if not root.is_dir():
            raise DatasetLayoutError(f"image folder not found: {root}", "check the --images path")
        out.images = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:max_images]
        if not out.images:
            raise DatasetLayoutError(f"no images in {root}", f"supported: {', '.join(sorted(IMAGE_SUFFIXES))}")
    if captions is not None:
        path = Path(captions)
        if not path.is_file():
            raise DatasetLayoutError(f"captions file not found: {path}", "one caption per line")
        out.captions = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def cve_verdict(vision: list[VisionLayerStats] | None) -> dict[str, Any]:
    if not vision:
        return {"applies": None, "reason": "no ViT CLS attention (CVE is not applicable)"}
    last = vision[-1]
    applies = last.register_rate >= REGISTER_RATE
    reason = (f"{last.register_rate:.0f}% of images have a high-norm token holding a dominant share of the CLS "
              f"attention" if applies else
              f"no register tokens: largest patch-token norm {last.norm_max:.1f}x the median, register rate "
              f"{last.register_rate:.0f}%; the most attended patch holds {last.top1:.0f}% of the attention")
    return {"applies": applies, "reason": reason, "register_rate": last.register_rate}


def dcc_verdict(text: TextStats | None) -> dict[str, Any]:
    if text is None:
        return {"applies": None, "reason": "no captions to measure the text side on"}
    costs = {name: text.masking_cost(name) for name in ("mask_top", "mask_random")}
    tracks = text.spearman >= MIN_SPEARMAN and text.dominated >= MIN_DOMINATED
    cheap = costs["mask_top"] is None or costs["mask_top"] <= costs["mask_random"] + MASKING_SLACK
    why = [f"{text.dominated:.0f}% of captions dominated by one word",
           f"attention~generality Spearman {text.spearman:+.2f}"]
    if costs["mask_top"] is not None:
        why.append(f"there, masking the dominating word costs {costs['mask_top']:.1f} R@1, "
                   f"a random word {costs['mask_random']:.1f}")
    return {"applies": tracks and cheap, "reason": "; ".join(why), "spearman": text.spearman,
            "dominated": text.dominated}


def _encode(backbone: Backbone, paths: Sequence[Path], batch_size: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    batches, embeddings = [], torch.zeros(len(paths), backbone.embed_dim)
    for idx, pixels in iter_pixel_batches(backbone, list(paths), batch_size, desc="diagnose"):
        batches.append(pixels)
        embeddings[idx] = backbone.encode_image(pixels).float().cpu()
    return batches, embeddings


@torch.no_grad()
def diagnose(backbone: Backbone, data: DiagnosisData, batch_size: int = 32) -> Diagnosis:
    """Measure ``backbone`` on ``data`` and give each method its verdict.

    Example:
        >>> from calibclip.backbones import load_backbone
        >>> report = diagnose(load_backbone("tiny"), load_data("fresh/CUHK-PEDES"))  # doctest: +SKIP
        >>> report.verdicts["cve"]["applies"]                                         # doctest: +SKIP
        False
    """
    cfg = resolve_calibration(None, backbone)
    batches, embeddings = _encode(backbone, data.images, batch_size) if data.images else ([], None)
    vision = None
    if batches and backbone.supports_image_calibration:
        vision = vision_layer_stats(backbone, batches, cfg.norm_outlier, cfg.dominance)
    text = None
    if data.captions:
        try:
            text = text_stats(backbone, data.captions, cfg.min_df, cfg.random_seed, embeddings,
                              data.caption_ids, data.image_ids)
        except NotApplicable:
            text = None
    return Diagnosis(backbone.spec.raw, data.description, len(data.images), vision, text,
                     {"cve": cve_verdict(vision), "dcc": dcc_verdict(text)})


__all__ = ["Diagnosis", "DiagnosisData", "diagnose", "load_data", "cve_verdict", "dcc_verdict",
           "REGISTER_RATE", "MIN_SPEARMAN", "MASKING_SLACK", "MIN_DOMINATED"]
