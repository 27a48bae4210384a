"""The training-free CalibCLIP pipeline over a gallery: encode both ways once, score every variant.

Gallery images are encoded once into the original and the CVE-calibrated
embedding; queries once into the original and the DCC-discriminative one.
Scoring is then matrix products plus the top-K rerank (``rerank.py``), so
ablations and knob sweeps over λ, K and the first stage cost no re-encoding.

Example:
    >>> from calibclip.backbones import load_backbone
    >>> from calibclip.calibration.retriever import CalibratedRetriever
    >>> retriever = CalibratedRetriever(load_backbone("tiny:none"))
    >>> gallery = retriever.encode_gallery(["a.jpg", "b.jpg"])      # doctest: +SKIP
    >>> retriever.score(["a man in a red coat"])["calibrated"].shape  # doctest: +SKIP
    (1, 2)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from calibclip.backbones.base import Backbone
from calibclip.calibration.cve import require_vit, calibrate_images, check_cve_config
from calibclip.calibration.dcc import check_dcc_config, check_texts, discriminate_texts
from calibclip.calibration.rerank import check_rerank_args, rerank
from calibclip.config import CalibrationConfig
from calibclip.errors import ConfigError
from calibclip.index.encode import EncodeReport, ImageSource, iter_pixel_batches

log = logging.getLogger(__name__)

FIRST_STAGES = ("original", "calibrated")
SKIPPED_SCORE = -2.0  # below any cosine similarity: unreadable gallery images rank last


@dataclass
class GalleryFeatures:
    """Gallery embeddings, one row per source (zeros for skipped images, listed in ``report``).

    Attributes:
        original: (G, D) float32 plain embeddings.
        calibrated: (G, D) float32 CVE embeddings, or None when CVE is off.
        report: which sources were encoded and which were skipped and why.
    """

    original: torch.Tensor
    calibrated: torch.Tensor | None
    report: EncodeReport = field(default_factory=EncodeReport)


@dataclass
class QueryFeatures:
    """Query embeddings: original, DCC-discriminative (None when DCC is off), and the masked words."""

    original: torch.Tensor
    discriminative: torch.Tensor | None
    masked_words: list[list[str]]
    masked_texts: list[str]


def check_config(cfg: CalibrationConfig) -> CalibrationConfig:
    """Validate every CalibCLIP knob up front (before any image is decoded)."""
    check_cve_config(cfg)
    check_dcc_config(cfg)
    check_rerank_args(cfg.rerank_k, cfg.lam)
    if cfg.first_stage not in FIRST_STAGES:
        raise ConfigError(f"calibration knob first_stage must be one of {FIRST_STAGES}, got {cfg.first_stage!r}",
                          "'original' ranks stage 1 with plain image embeddings")
    return cfg


def _matmul(texts: torch.Tensor, images: torch.Tensor, skipped: list[int]) -> np.ndarray:
    scores = (texts.float() @ images.float().T).numpy()
    scores[:, skipped] = SKIPPED_SCORE
    return scores


@dataclass(frozen=True)
class FusionSides:
    """Which embeddings the calibrated pipeline compares (a side with CVE/DCC off is the original)."""

    text: torch.Tensor          # s_disc's text side: DCC or original
    image: torch.Tensor         # s_disc's image side: CVE or original
    first_stage: torch.Tensor   # images the original text is ranked against in stage 1


def fusion_sides(queries: QueryFeatures, gallery: GalleryFeatures, cfg: CalibrationConfig) -> FusionSides:
    """The sides ``cfg`` selects; refuses features encoded without the CVE/DCC the config enables."""
    if (cfg.cve_enabled and gallery.calibrated is None) or (cfg.dcc_enabled and queries.discriminative is None):
        raise ConfigError("the config enables CVE/DCC but the features were encoded without it",
                          "encode gallery and queries with the same CalibrationConfig")
    image = gallery.calibrated if cfg.cve_enabled else gallery.original
    text = queries.discriminative if cfg.dcc_enabled else queries.original
    return FusionSides(text=text, image=image,
                       first_stage=image if cfg.first_stage == "calibrated" else gallery.original)


def score_features(queries: QueryFeatures, gallery: GalleryFeatures, cfg: CalibrationConfig,
                   ablations: bool = False) -> dict[str, np.ndarray]:
    """Score matrices (Q, G) float32 for ``baseline`` and ``calibrated`` (+ ``cve_only``, ``dcc_only``).

    ``calibrated`` ranks stage 1 by the original text against the original (or,
    with ``first_stage: calibrated``, the CVE) image embeddings, then reranks
    the top K with the DCC text against the CVE image. Switching CVE or DCC off
    in ``cfg`` uses the original embedding on that side.
    """
    check_config(cfg)
    sides = fusion_sides(queries, gallery, cfg)
    skipped = sorted(gallery.report.skipped)
    baseline = _matmul(queries.original, gallery.original, skipped)
    first = baseline if cfg.first_stage == "original" else _matmul(queries.original, sides.first_stage, skipped)
    out = {"baseline": baseline,
           "calibrated": rerank(first, _matmul(sides.text, sides.image, skipped), cfg.rerank_k, cfg.lam)}
    if ablations and gallery.calibrated is not None:
        cve_disc = _matmul(queries.original, gallery.calibrated, skipped)
        out["cve_only"] = rerank(baseline, cve_disc, cfg.rerank_k, cfg.lam)
    if ablations and queries.discriminative is not None:
        dcc_disc = _matmul(queries.discriminative, gallery.original, skipped)
        out["dcc_only"] = rerank(baseline, dcc_disc, cfg.rerank_k, cfg.lam)
    return {name: scores.astype(np.float32, copy=False) for name, scores in out.items()}


class CalibratedRetriever:
    """CalibCLIP (training-free) retrieval over one gallery with one backbone."""

    def __init__(self, backbone: Backbone, cfg: CalibrationConfig | None = None) -> None:
        self.backbone = backbone
        self.cfg = check_config(cfg if cfg is not None else CalibrationConfig())
        if self.cfg.cve_enabled:
            require_vit(backbone)
        self.gallery: GalleryFeatures | None = None

    @torch.no_grad()
    def encode_gallery(self, sources: Sequence[ImageSource], batch_size: int = 64,
                       workers: int = 4) -> GalleryFeatures:
        """Encode every readable image once (original + CVE); unreadable ones are skipped and counted."""
        report = EncodeReport()
        dim = self.backbone.embed_dim
        original = torch.zeros(len(sources), dim)
        calibrated = torch.zeros(len(sources), dim) if self.cfg.cve_enabled else None
        for idx, pixels in iter_pixel_batches(self.backbone, sources, batch_size, workers, report, desc="gallery"):
            if calibrated is None:
                original[idx] = self.backbone.encode_image(pixels).float().cpu()
                continue
            both = calibrate_images(self.backbone, pixels, self.cfg)
            original[idx] = both.original.float().cpu()
            calibrated[idx] = both.calibrated.float().cpu()
        log.info("gallery: %d encoded, %d skipped", len(report.encoded), len(report.skipped))
        self.gallery = GalleryFeatures(original=original, calibrated=calibrated, report=report)
        return self.gallery

    @torch.no_grad()
    def encode_queries(self, texts: Sequence[str], batch_size: int = 256) -> QueryFeatures:
        """Encode queries once (original + DCC); blank queries are rejected with their position."""
        texts = check_texts(texts)
        if not self.cfg.dcc_enabled:
            return QueryFeatures(self.backbone.embed_texts(texts, batch_size), None, [[] for _ in texts], texts)
        disc = discriminate_texts(self.backbone, texts, self.cfg, batch_size)
        return QueryFeatures(disc.original, disc.discriminative, disc.masked_words, disc.masked_texts)

    def score(self, texts: Sequence[str], gallery: GalleryFeatures | None = None,
              ablations: bool = False) -> dict[str, np.ndarray]:
        """Score ``texts`` against ``gallery`` (default: the last encoded one); see ``score_features``."""
        gallery = gallery if gallery is not None else self.gallery
        if gallery is None:
            raise ConfigError("no gallery to score against", "call encode_gallery(sources) first")
        return score_features(self.encode_queries(texts), gallery, self.cfg, ablations)


__all__ = ["CalibratedRetriever", "GalleryFeatures", "QueryFeatures", "FusionSides", "fusion_sides", "score_features",
           "check_config", "FIRST_STAGES", "SKIPPED_SCORE"]
