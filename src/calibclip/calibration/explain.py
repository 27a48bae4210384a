"""Why an image ranked where it did under CalibCLIP: suppressed patches as a heatmap, masked words, scores.

The overlay paints the last block's CLS attention as red heat over the image
and outlines the patches CVE treated as dominant (the ones whose attention was
decayed). The patch grid is stretched over the whole image, which is exact for
backbones that resize without cropping (``tiny``) and approximate for those
that centre-crop (most open_clip/transformers presets): there the outer margin
of the long side was never seen by the model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from calibclip.backbones.base import Backbone
from calibclip.calibration.cve import CalibratedImages, calibrate_images
from calibclip.calibration.retriever import CalibratedRetriever, GalleryFeatures, fusion_sides, score_features
from calibclip.config import CalibrationConfig
from calibclip.datasets.images import open_image

Box = tuple[int, int, int, int]  # (left, top, right, bottom) in image pixels, right/bottom exclusive

_HEAT_RGB = (255, 32, 0)
_OUTLINE_RGB = (0, 255, 255)
_MAX_HEAT_ALPHA = 0.6


@dataclass(frozen=True)
class Explanation:
    """One (query, image) pair explained.

    Attributes:
        masked_words: words DCC removed from the query.
        masked_text: the query as re-encoded by DCC.
        dominant_boxes: image-pixel boxes of the patches CVE suppressed.
        overlay: the image with attention heat and dominant patches outlined (same size as the image).
        s_orig: plain CLIP similarity.
        s_first: the stage-1 score (``s_orig``, or original text against CVE image with
            ``first_stage: calibrated``).
        s_disc: DCC text against CVE image similarity.
        s_final: the calibrated score the pair gets when the image is in the rerank's top K:
            (1 − λ)·s_first + λ·s_disc.
    """

    masked_words: list[str]
    masked_text: str
    dominant_boxes: list[Box]
    overlay: Image.Image
    s_orig: float
    s_first: float
    s_disc: float
    s_final: float


def patch_boxes(mask: np.ndarray, image_size: tuple[int, int]) -> list[Box]:
    """Boxes of the True cells of a (rows, cols) patch mask stretched over an image of (width, height)."""
    rows, cols = mask.shape
    width, height = image_size
    return [(round(c * width / cols), round(r * height / rows),
             round((c + 1) * width / cols), round((r + 1) * height / rows))
            for r, c in zip(*np.nonzero(mask))]


def render_overlay(image: Image.Image, heat: np.ndarray, boxes: list[Box]) -> Image.Image:
    """Blend ``heat`` (rows, cols, any scale) as red over ``image`` and outline ``boxes``."""
    heat = np.asarray(heat, dtype=np.float64)
    span = heat.max() - heat.min()
    unit = (heat - heat.min()) / span if span > 0 else np.zeros_like(heat)
    alpha = Image.fromarray(np.uint8(np.round(unit * 255 * _MAX_HEAT_ALPHA)))
    alpha = alpha.resize(image.size, Image.BILINEAR)
    base = image.convert("RGB")
    overlay = Image.composite(Image.new("RGB", base.size, _HEAT_RGB), base, alpha)
    draw = ImageDraw.Draw(overlay)
    line = max(1, min(base.size) // 100)
    for left, top, right, bottom in boxes:
        draw.rectangle((left, top, right - 1, bottom - 1), outline=_OUTLINE_RGB, width=line)
    return overlay


@torch.no_grad()
def explain(backbone: Backbone, text: str, image: Image.Image | str | Path | bytes,
            cfg: CalibrationConfig | None = None, calibrated: CalibratedImages | None = None) -> Explanation:
    """Explain the calibrated score of ``image`` for ``text`` (CVE must apply: a ViT backbone).

    ``calibrated``: the image's CVE output computed earlier (an index stores it), so the
    image is not encoded again; by default it is computed here.

    Example:
        >>> from calibclip.backbones import load_backbone
        >>> result = explain(load_backbone("tiny:none"), "a man in a red coat", "person.jpg")  # doctest: +SKIP
        >>> result.overlay.save("why.png"); result.masked_words                                   # doctest: +SKIP
        ['coat']
    """
    retriever = CalibratedRetriever(backbone, cfg)
    picture = image.convert("RGB") if isinstance(image, Image.Image) else open_image(image)
    if calibrated is None:
        pixels = backbone.preprocess(picture).unsqueeze(0).to(backbone.device)
        calibrated = calibrate_images(backbone, pixels, retriever.cfg)
    images = calibrated
    queries = retriever.encode_queries([text])
    gallery = GalleryFeatures(original=images.original.float().cpu(), calibrated=images.calibrated.float().cpu())
    scores = score_features(queries, gallery, retriever.cfg)
    sides = fusion_sides(queries, gallery, retriever.cfg)
    rows, cols = images.grid
    dominant = images.dominant[0, images.num_prefix:].reshape(rows, cols).cpu().numpy()
    heat = images.cls_attention[0, images.num_prefix:].reshape(rows, cols).float().cpu().numpy()
    boxes = patch_boxes(dominant, picture.size)
    return Explanation(masked_words=queries.masked_words[0], masked_text=queries.masked_texts[0],
                       dominant_boxes=boxes, overlay=render_overlay(picture, heat, boxes),
                       s_orig=float(scores["baseline"][0, 0]),
                       s_first=float(queries.original[0] @ sides.first_stage[0]),
                       s_disc=float(sides.text[0] @ sides.image[0]),
                       s_final=float(scores["calibrated"][0, 0]))


__all__ = ["Explanation", "explain", "patch_boxes", "render_overlay"]
