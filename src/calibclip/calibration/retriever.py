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
from typing import Iterator, Sequence

import numpy as np
import torch

from calibclip.backbones.base import Backbone
from calibclip.calibration.cve import require_vit, calibrate_images, check_cve_config
from calibclip.calibration.dcc import check_dcc_config, check_texts, discriminate_texts
from calibclip.calibration.presets import calibration_sources, resolve_calibration, warn_if_nothing_to_correct
from calibclip.calibration.rerank import check_rerank_args, fuse_top_k, rerank_candidates
from calibclip.config import CalibrationConfig
from calibclip.errors import ConfigError
from calibclip.index.encode import EncodeReport, ImageSource, inference_context, iter_pixel_batches

log = logging.getLogger(__name__)

FIRST_STAGES = ("original", "calibrated")
SKIPPED_SCORE = -2.0  # below any cosine similarity: unreadable gallery images rank last
QUERY_BLOCK_SCORES = 1 << 22  # query × gallery scores computed at a time (O(block) memory, any evaluation fits)
GALLERY_BLOCK = 1 << 15  # gallery rows converted to float32 at a time (fp16 storage, float32 scoring)
FAISS_ROWS = 4  # up to this many queries on a float32 CPU gallery are scored by FAISS's kernel, row by row


@dataclass
class GalleryFeatures:
    """Gallery embeddings, one row per source (zeros for skipped images, listed in ``report``).

    Attributes:
        original: (G, D) plain embeddings, float32 or float16 (scored in float32 either way).
        calibrated: (G, D) CVE embeddings (same dtype), or None when CVE is off.
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


def check_config(cfg: CalibrationConfig | None, backbone: Backbone | None = None) -> CalibrationConfig:
    """Resolve (``presets.resolve_calibration``) and validate every knob up front, before any image is decoded.

    Without a backbone, unset knobs take the library defaults: pass the retriever's own (resolved) ``cfg``.
    """
    cfg = resolve_calibration(cfg, backbone)
    check_cve_config(cfg)
    check_dcc_config(cfg)
    check_rerank_args(cfg.rerank_k, cfg.lam)
    if cfg.first_stage not in FIRST_STAGES:
        raise ConfigError(f"calibration knob first_stage must be one of {FIRST_STAGES}, got {cfg.first_stage!r}",
                          "'original' ranks stage 1 with plain image embeddings")
    return cfg


def similarities(texts: torch.Tensor, images: torch.Tensor, skipped: Sequence[int] = ()) -> np.ndarray:
    """(B, G) float32 similarities of text and image embeddings; ``skipped`` image columns score ``SKIPPED_SCORE``.

    Float32 scoring over a float32 or fp16 gallery (converted ``GALLERY_BLOCK`` rows at a
    time, never as a whole), on the gallery's device (a CUDA gallery is scored on the GPU).
    """
    texts = texts.to(images.device, torch.float32)
    if len(texts) <= FAISS_ROWS and images.device.type == "cpu" and images.dtype == torch.float32:
        out = _faiss_rows(texts, images)
        out[:, skipped] = SKIPPED_SCORE
        return out
    out = np.empty((len(texts), len(images)), dtype=np.float32)
    for start in range(0, len(images), GALLERY_BLOCK):
        block = images[start:start + GALLERY_BLOCK].to(torch.float32)
        out[:, start:start + len(block)] = (texts @ block.T).cpu().numpy()
    out[:, skipped] = SKIPPED_SCORE
    return out


def _faiss_rows(texts: torch.Tensor, images: torch.Tensor) -> np.ndarray:
    """A few query rows against a float32 CPU gallery with FAISS's SIMD kernel (BLAS GEMV is slower on one row)."""
    try:
        import faiss
    except ImportError:  # the optional ``index`` extra: fall back to torch
        return (texts @ images.T).numpy()
    base, queries = images.contiguous().numpy(), texts.contiguous().numpy()
    out = np.empty((len(queries), len(base)), dtype=np.float32)
    for row, query in zip(out, queries):
        faiss.fvec_inner_products_ny(faiss.swig_ptr(row), faiss.swig_ptr(query), faiss.swig_ptr(base), base.shape[1],
                                     len(base))
    return out


def _pair_products(texts: torch.Tensor, images: torch.Tensor, pairs: np.ndarray, skipped: Sequence[int]) -> np.ndarray:
    """(B, K) similarities of each text with the K images it lists in ``pairs`` only (float32 scoring)."""
    candidates = images[torch.from_numpy(pairs).to(images.device)].to(torch.float32)
    texts = texts.to(images.device, torch.float32)
    out = torch.bmm(candidates, texts[:, :, None])[:, :, 0].cpu().numpy()
    if len(skipped):
        out[np.isin(pairs, skipped)] = SKIPPED_SCORE
    return out


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


def _reranked(first: np.ndarray, text: torch.Tensor, images: torch.Tensor, skipped: Sequence[int],
              cfg: CalibrationConfig) -> np.ndarray:
    """``rerank(first, text·imagesᵀ)`` with text·image computed on each row's top K only."""
    if cfg.lam == 0:
        return first.astype(np.float64)
    candidates = rerank_candidates(first, cfg.rerank_k)
    disc = _pair_products(text, images, candidates[:, :cfg.rerank_k], skipped)
    return fuse_top_k(first, candidates, disc, cfg.rerank_k, cfg.lam)


def _score_block(queries: QueryFeatures, gallery: GalleryFeatures, sides: FusionSides, cfg: CalibrationConfig,
                 rows: slice, skipped: Sequence[int], ablations: bool, with_baseline: bool) -> dict[str, np.ndarray]:
    text = queries.original[rows]
    need_plain = with_baseline or ablations or sides.first_stage is gallery.original
    baseline = similarities(text, gallery.original, skipped) if need_plain else None
    first = baseline if sides.first_stage is gallery.original else similarities(text, sides.first_stage, skipped)
    if sides.text is queries.original and sides.image is sides.first_stage:  # s_disc would repeat stage 1
        calibrated = first.astype(np.float64)
    else:
        calibrated = _reranked(first, sides.text[rows], sides.image, skipped, cfg)
    out = {"baseline": baseline, "calibrated": calibrated} if with_baseline else {"calibrated": calibrated}
    if ablations and gallery.calibrated is not None:
        out["cve_only"] = _reranked(baseline, text, gallery.calibrated, skipped, cfg)
    if ablations and queries.discriminative is not None:
        out["dcc_only"] = _reranked(baseline, queries.discriminative[rows], gallery.original, skipped, cfg)
    return out


def iter_scores(queries: QueryFeatures, gallery: GalleryFeatures, cfg: CalibrationConfig, ablations: bool = False,
                block_rows: int | None = None, baseline: bool = True) -> Iterator[tuple[slice, dict[str, np.ndarray]]]:
    """``score_features`` one block of queries at a time: (query rows, {method: (rows, G) scores}).

    Memory is O(block): ``block_rows`` queries (default: about ``QUERY_BLOCK_SCORES`` scores per
    block) against the gallery, which is read ``GALLERY_BLOCK`` rows at a time.
    """
    cfg = check_config(cfg)
    sides = fusion_sides(queries, gallery, cfg)
    skipped = sorted(gallery.report.skipped)
    count, size = len(queries.original), len(gallery.original)
    step = block_rows or max(1, QUERY_BLOCK_SCORES // max(1, size))
    for start in range(0, max(count, 1), step):
        rows = slice(start, min(start + step, count))
        yield rows, _score_block(queries, gallery, sides, cfg, rows, skipped, ablations, baseline)


def score_features(queries: QueryFeatures, gallery: GalleryFeatures, cfg: CalibrationConfig,
                   ablations: bool = False, baseline: bool = True) -> dict[str, np.ndarray]:
    """Score matrices (Q, G) for ``baseline`` and ``calibrated`` (+ ``cve_only``, ``dcc_only``).

    ``calibrated`` ranks stage 1 by the original text against the original (or,
    with ``first_stage: calibrated``, the CVE) image embeddings, then reranks
    the top K with the DCC text against the CVE image. Switching CVE or DCC off
    in ``cfg`` uses the original embedding on that side.

    ``baseline`` is float32; the reranked matrices are float64, which keeps the exact
    first-stage order below K (``rerank.fuse_top_k``). Only the products a method needs
    are computed: one full product per query (two with ``first_stage: calibrated`` and
    ``baseline``; ``baseline=False`` leaves the plain matrix out of the result), plus K for each
    rerank. For an evaluation too large to hold every matrix, use ``iter_scores``.
    """
    out: dict[str, np.ndarray] = {}
    shape = (len(queries.original), len(gallery.original))
    for rows, block in iter_scores(queries, gallery, cfg, ablations, baseline=baseline):
        for name, scores in block.items():
            out.setdefault(name, np.empty(shape, dtype=scores.dtype))[rows] = scores
    return out


class CalibratedRetriever:
    """CalibCLIP (training-free) retrieval over one gallery with one backbone."""

    def __init__(self, backbone: Backbone, cfg: CalibrationConfig | None = None) -> None:
        self.backbone = backbone
        self.cfg = check_config(cfg, backbone)
        if self.cfg.cve_enabled:
            require_vit(backbone)
        warn_if_nothing_to_correct(backbone, self.cfg, calibration_sources(cfg, backbone))
        self.gallery: GalleryFeatures | None = None

    def encode_gallery(self, sources: Sequence[ImageSource], batch_size: int = 64,
                       workers: int = 4) -> GalleryFeatures:
        """Encode every readable image once (original + CVE); unreadable ones are skipped and counted."""
        report = EncodeReport()
        dim = self.backbone.embed_dim
        original = torch.zeros(len(sources), dim)
        calibrated = torch.zeros(len(sources), dim) if self.cfg.cve_enabled else None
        batches = iter_pixel_batches(self.backbone, sources, batch_size, workers, report, desc="gallery")
        with inference_context(self.backbone.device):
            for idx, pixels in batches:
                if calibrated is None:
                    original[idx] = self.backbone.encode_image(pixels).float().cpu()
                    continue
                both = calibrate_images(self.backbone, pixels, self.cfg)
                original[idx] = both.original.float().cpu()
                calibrated[idx] = both.calibrated.float().cpu()
        log.info("gallery: %d encoded, %d skipped", len(report.encoded), len(report.skipped))
        self.gallery = GalleryFeatures(original=original, calibrated=calibrated, report=report)
        return self.gallery

    def encode_queries(self, texts: Sequence[str], batch_size: int = 256) -> QueryFeatures:
        """Encode queries once (original + DCC); blank queries are rejected with their position."""
        texts = check_texts(texts)
        with inference_context(self.backbone.device):
            if self.cfg.dcc_enabled:
                disc = discriminate_texts(self.backbone, texts, self.cfg, batch_size)
                found = (disc.original, disc.discriminative, disc.masked_words, disc.masked_texts)
            else:
                found = (self.backbone.embed_texts(texts, batch_size), None, [[] for _ in texts], texts)
        original, discriminative, words, masked = found  # cloned out here: plain tensors, not inference ones
        discriminative = None if discriminative is None else discriminative.clone()
        return QueryFeatures(original.clone(), discriminative, words, masked)

    def score(self, texts: Sequence[str], gallery: GalleryFeatures | None = None,
              ablations: bool = False) -> dict[str, np.ndarray]:
        """Score ``texts`` against ``gallery`` (default: the last encoded one); see ``score_features``."""
        gallery = gallery if gallery is not None else self.gallery
        if gallery is None:
            raise ConfigError("no gallery to score against", "call encode_gallery(sources) first")
        return score_features(self.encode_queries(texts), gallery, self.cfg, ablations)


__all__ = ["CalibratedRetriever", "GalleryFeatures", "QueryFeatures", "FusionSides", "fusion_sides", "score_features",
           "iter_scores", "similarities", "check_config", "FIRST_STAGES", "SKIPPED_SCORE"]
