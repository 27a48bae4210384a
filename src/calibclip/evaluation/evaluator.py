"""Seed ``Evaluator``: text-based person retrieval, plain CLIP vs CalibCLIP, IRRA protocol.

Every caption of the split is a query, every image the gallery, a match is the
same person id (IRRA, github.com/anosorae/IRRA, ``utils/metrics.py``). The
gallery and the captions are encoded once by ``CalibratedRetriever``; the
baseline and the calibrated score matrices come from the same features.

Example:
    >>> from calibclip import build_calibclip
    >>> from calibclip.datasets import build_test_loader
    >>> from calibclip.evaluation import Evaluator
    >>> model = build_calibclip(pretrained="checkpoints/calibclip_cuhkpedes.pth")
    >>> results = Evaluator(model, device="cuda").evaluate(build_test_loader("data/CUHK-PEDES"))
    >>> results["rank1"], results["baseline"]["rank1"]
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import torch

from calibclip.backbones.base import Backbone
from calibclip.config import CalibrationConfig
from calibclip.datasets.images import open_image
from calibclip.datasets.loaders import PedesTestLoader
from calibclip.datasets.pedes import PedesSplit
from calibclip.errors import ConfigError, DatasetLayoutError
from calibclip.evaluation.metrics import PersonRetrievalTotals
from calibclip.evaluation.report import write_json

if TYPE_CHECKING:
    from calibclip.calibration.model import CalibCLIP

log = logging.getLogger(__name__)

METRIC_KEYS = ("rank1", "rank5", "rank10", "mAP", "mINP")
METHODS = ("baseline", "calibrated")
Model = Union["CalibCLIP", Backbone]


@dataclass
class PedesEvaluation:
    """Everything one evaluation produced.

    Attributes:
        metrics: per method ("baseline", "calibrated"), ``person_retrieval_metrics`` in percent.
        scores: per method, the (captions, images) score matrix that was ranked (float32 baseline,
            float64 calibrated); empty when the evaluation streamed them (``keep_scores=False``).
        query_pids: (captions,) person id of each query.
        gallery_pids: (images,) person id of each gallery image.
        skipped_images: gallery indices that could not be decoded (they rank last).
        blank_captions: captions left out of the queries because they are empty.
    """

    metrics: dict[str, dict[str, Any]]
    scores: dict[str, np.ndarray] = field(repr=False)
    query_pids: np.ndarray = field(repr=False)
    gallery_pids: np.ndarray = field(repr=False)
    skipped_images: list[int] = field(default_factory=list)
    blank_captions: int = 0

    def summary(self) -> dict[str, Any]:
        """The seed's result dict: calibrated metrics at the top, ``baseline`` beside them."""
        return {**self.metrics["calibrated"], "baseline": self.metrics["baseline"],
                "calibrated": self.metrics["calibrated"], "num_images": len(self.gallery_pids),
                "skipped_images": len(self.skipped_images), "blank_captions": self.blank_captions}

    def save_scores(self, folder: str | Path) -> list[Path]:
        """Write ``sims_<method>.npy`` and ``labels.json`` (query and gallery person ids), to re-rank elsewhere."""
        if not self.scores:
            raise ConfigError("this evaluation did not keep its score matrices",
                              "run evaluate_pedes(..., keep_scores=True) or pass scores_dir to write them")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, scores in self.scores.items():
            path = folder / f"sims_{name}.npy"
            if Path(getattr(scores, "filename", None) or "") != path.resolve():  # not already streamed there
                np.save(path, scores)
            written.append(path)
        labels = {"query_pids": self.query_pids, "gallery_pids": self.gallery_pids}
        return [*written, write_json(folder / "labels.json", labels)]


def evaluate_pedes(model: Model, data: PedesSplit | PedesTestLoader, cfg: CalibrationConfig | None = None,
                   batch_size: int = 128, workers: int = 4, keep_scores: bool = True,
                   scores_dir: str | Path | None = None) -> PedesEvaluation:
    """Score every caption against every image, baseline and calibrated, and compute the metrics.

    Scores are computed and ranked one block of queries at a time, so the memory an
    evaluation needs does not grow with queries × images unless the matrices are kept.

    Args:
        model: a ``CalibCLIP`` (its ``calibration`` config is used) or any ``Backbone``.
        data: a ``PedesSplit`` (images go through the model's own preprocessing) or a
            ``PedesTestLoader`` (its ``transform`` and ``batch_size`` are used).
        cfg: calibration knobs; default: the model's, else ``CalibrationConfig()``.
        batch_size: images/captions per encoder batch (a loader's own size wins).
        workers: image decoding threads.
        keep_scores: keep the score matrices in memory (``PedesEvaluation.scores``).
        scores_dir: write them block by block to ``sims_<method>.npy`` there instead
            (memory-mapped; ``scores`` then maps those files).
    """
    from calibclip.calibration.retriever import CalibratedRetriever, iter_scores

    backbone = getattr(model, "backbone", model)
    cfg = cfg or getattr(model, "calibration", None) or CalibrationConfig()
    split = data.split if isinstance(data, PedesTestLoader) else data
    if isinstance(data, PedesTestLoader):
        backbone = _with_transform(backbone, data.transform, split)
        batch_size = data.batch_size
    queries = _query_rows(split)
    retriever = CalibratedRetriever(backbone, cfg)
    gallery = retriever.encode_gallery(split.image_paths, batch_size, workers)
    features = retriever.encode_queries([split.captions[i] for i in queries])
    skipped = sorted(gallery.report.skipped)
    if skipped:
        log.warning("%d of %d gallery images unreadable; they rank last", len(skipped), len(split.image_paths))
    query_pids = split.caption_pids[queries]
    totals = {name: PersonRetrievalTotals(split.image_pids) for name in METHODS}
    scores: dict[str, np.ndarray] = {}
    for rows, block in iter_scores(features, gallery, retriever.cfg):
        for name in METHODS:
            totals[name].add(block[name], query_pids[rows])
            if keep_scores or scores_dir is not None:
                _score_sink(scores, name, block[name].dtype, (len(queries), len(split.image_pids)),
                            scores_dir)[rows] = block[name]
    for matrix in scores.values():
        if isinstance(matrix, np.memmap):
            matrix.flush()
    metrics = {name: totals[name].result() for name in METHODS}
    return PedesEvaluation(metrics, scores, query_pids, split.image_pids, skipped, len(split.captions) - len(queries))


def _score_sink(sinks: dict[str, np.ndarray], name: str, dtype: np.dtype, shape: tuple[int, int],
                folder: str | Path | None) -> np.ndarray:
    """The matrix one method's score blocks are written into: in memory, or a memory-mapped ``.npy``."""
    if name not in sinks:
        if folder is None:
            sinks[name] = np.empty(shape, dtype=dtype)
        else:
            Path(folder).mkdir(parents=True, exist_ok=True)
            path = (Path(folder) / f"sims_{name}.npy").resolve()
            sinks[name] = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    return sinks[name]


def _query_rows(split: PedesSplit) -> list[int]:
    """Indices of the captions that are queries: all but blank ones (text encoders refuse those)."""
    rows = [i for i, caption in enumerate(split.captions) if caption.strip()]
    if not rows:
        raise DatasetLayoutError(f"the {split.split} split of {split.root} has no captions to query with",
                                 "every annotated image needs at least one non-empty caption")
    if len(rows) < len(split.captions):
        log.warning("%d blank caption(s) in %s are not queries", len(split.captions) - len(rows), split.root)
    return rows


def _with_transform(backbone: Backbone, transform: Any, split: PedesSplit) -> Backbone:
    """A view of ``backbone`` whose preprocessing is ``transform`` (same weights), checked on one image."""
    size = tuple(transform(open_image(split.image_paths[0])).shape[-2:])
    if size != tuple(backbone.image_size):
        raise ConfigError(f"the loader's transform makes {size[0]}x{size[1]} images, the model takes "
                          f"{backbone.image_size[0]}x{backbone.image_size[1]}",
                          f"build_transforms(is_train=False, image_size={tuple(backbone.image_size)})")
    view = copy.copy(backbone)
    view.preprocess = transform
    return view


class Evaluator:
    """Seed API: ``Evaluator(model, device).evaluate(loader)`` → metrics in percent.

    Args:
        model: a ``CalibCLIP`` from ``build_calibclip`` or any ``Backbone``.
        device: "cuda", "cpu" or "auto"; a ``CalibCLIP`` is moved there.
        cfg: calibration knobs (default: the model's own).
        batch_size: encoder batch size when ``evaluate`` gets a bare ``PedesSplit``.
    """

    def __init__(self, model: Model, device: str | torch.device = "auto", cfg: CalibrationConfig | None = None,
                 batch_size: int = 128) -> None:
        from calibclip.backbones import resolve_device

        device = resolve_device(device)
        if hasattr(model, "to"):
            model.to(device)
        elif device != model.device:
            raise ConfigError(f"the backbone lives on {model.device}, the evaluator was asked for {device}",
                              "load it there: load_backbone(spec, device)")
        self.model = model
        self.device = device
        self.cfg = cfg
        self.batch_size = batch_size

    def evaluate(self, loader: PedesTestLoader | PedesSplit) -> dict[str, Any]:
        """``rank1 rank5 rank10 mAP mINP`` (calibrated) in percent, plus ``baseline`` and counts."""
        return evaluate_pedes(self.model, loader, self.cfg, self.batch_size).summary()


__all__ = ["Evaluator", "PedesEvaluation", "evaluate_pedes", "METRIC_KEYS"]
