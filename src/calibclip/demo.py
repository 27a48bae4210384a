"""``calibclip demo``: the whole product on the embedded default, no flags, no downloads.

Generates (or reuses, cached) a small synthetic person set and a small
compositional (TIGR-format) set, runs plain retrieval, CalibCLIP, CsdCLIP and
both together with the bundled ``tiny`` model, and writes an HTML report with
the top results of a few queries. The numbers come from a demonstration model
trained on our own drawings: they show the mechanics, not real-photo accuracy.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from calibclip.backbones import load_backbone
from calibclip.backbones.base import Backbone
from calibclip.calibration.retriever import CalibratedRetriever
from calibclip.composite.rewriters import create_rewriter
from calibclip.composite.search import CompositeSearcher
from calibclip.config import CalibrationConfig, CompositeConfig, cache_root
from calibclip.datasets.pedes import PedesSplit, load_pedes
from calibclip.datasets.tigr import TigrSet, load_tigr
from calibclip.evaluation.composite_eval import EncodedGallery, encode_tigr_gallery, score_tigr
from calibclip.evaluation.metrics import person_retrieval_metrics, rank_gallery
from calibclip.evaluation.report import QueryResults, Table, Thumb, metrics_table, write_html_report, write_json
from calibclip.training.synthetic import ensure_pedes, ensure_tigr

log = logging.getLogger(__name__)

PEDES_SEED, TIGR_SEED = 90210, 90211  # never used for training (see configs/tiny.yaml)
PEDES_IDS = 240
PEDES_COLUMNS = ("rank1", "rank5", "rank10", "mAP")
TIGR_COLUMNS = ("GRP@10", "NIPR@10", "nDCG@10", "HR-Hit@10", "R@1")
METHODS = ("baseline", "calibrated", "composite", "composite+calibrated")


@dataclass
class DemoResult:
    """Metrics per method and dataset, plus where the report went."""

    metrics: dict[str, dict[str, dict[str, Any]]]
    report: Path
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**self.metrics, "report": str(self.report), "info": self.info}


def default_cache_dir() -> Path:
    """``$CALIBCLIP_CACHE/demo`` or ``~/.cache/calibclip/demo``."""
    return cache_root() / "demo"


def _pedes_methods(backbone: Backbone, split: PedesSplit, calibration: CalibrationConfig,
                   composite: CompositeConfig) -> dict[str, np.ndarray]:
    """Score matrices of every caption against every image, per method (one gallery encoding)."""
    retriever = CalibratedRetriever(backbone, calibration)
    gallery = retriever.encode_gallery(split.image_paths)
    scores = retriever.score(split.captions)
    skipped = sorted(gallery.report.skipped)
    searcher = CompositeSearcher(backbone, composite, create_rewriter("rule"))
    scores["composite"] = searcher.score(split.captions, gallery.original, skipped=skipped).composite
    with_calibration = CompositeSearcher(backbone, composite, create_rewriter("rule"), retriever)
    scores["composite+calibrated"] = with_calibration.score(split.captions, skipped=skipped).composite
    return {name: scores[name] for name in METHODS}


def _tigr_methods(backbone: Backbone, tigr: TigrSet, calibration: CalibrationConfig,
                  composite: CompositeConfig) -> tuple[dict[str, dict], dict[str, np.ndarray], list[dict]]:
    """Graded metrics, score matrices and per-query rows per method (one gallery encoding)."""
    gallery = encode_tigr_gallery(backbone, tigr, calibration)
    rule = create_rewriter("rule")
    calibrated = score_tigr(backbone, tigr, gallery, rule, composite)
    plain = score_tigr(backbone, tigr, EncodedGallery(gallery.embeddings, gallery.skipped), rule, composite)
    metrics = {"baseline": plain["baseline"], "calibrated": calibrated["calibrated"],
               "composite": plain["composite"], "composite+calibrated": calibrated["composite+calibrated"]}
    scores = {"baseline": plain["scores"]["baseline"], "calibrated": calibrated["scores"]["calibrated"],
              "composite": plain["scores"]["composite"],
              "composite+calibrated": calibrated["scores"]["composite+calibrated"]}
    return metrics, scores, plain["rows"]


def _spread(count: int, n: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, count - 1, num=min(n, count))})


def _pedes_gallery(split: PedesSplit, scores: dict[str, np.ndarray], queries: Sequence[int],
                   top: int) -> list[QueryResults]:
    out = []
    for q in queries:
        methods = {}
        for name, matrix in scores.items():
            ranked = rank_gallery(matrix[q:q + 1], top)[0]
            methods[name] = [Thumb(split.image_paths[g], "match" if split.image_pids[g] == split.caption_pids[q]
                                   else "miss") for g in ranked]
        out.append(QueryResults(split.captions[q], methods))
    return out


def _tigr_gallery(tigr: TigrSet, scores: dict[str, np.ndarray], rows: list[dict], queries: Sequence[int],
                  top: int) -> list[QueryResults]:
    gains = tigr.gains()
    grade = {1.0: "HR", 0.5: "MR"}
    out = []
    for q in queries:
        methods = {name: [Thumb(tigr.load_image(tigr.gallery_ids[g]), grade.get(gains[q].get(int(g), 0.0), "IR"))
                          for g in rank_gallery(matrix[q:q + 1], top)[0]] for name, matrix in scores.items()}
        note = f"AND: {'; '.join(rows[q]['and']) or '-'} | NOT: {'; '.join(rows[q]['not']) or '-'}"
        out.append(QueryResults(rows[q]["query"], methods, note))
    return out


def run_demo(out_dir: str | Path | None = None, backbone_spec: str = "tiny", device: str = "auto",
             cache_dir: str | Path | None = None, num_examples: int = 3, top: int = 5) -> DemoResult:
    """Generate/reuse the demo sets, evaluate every method, write ``report.html`` and ``metrics.json``.

    The report goes to ``out_dir``, by default ``<cache>/report`` (never the working directory).

    Example:
        >>> result = run_demo()
        >>> result.metrics["calibrated"]["pedes"]["rank1"], result.report
    """
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    backbone = load_backbone(backbone_spec, device)
    calibration, composite = CalibrationConfig(), CompositeConfig()
    split = load_pedes(ensure_pedes(cache, PEDES_SEED, ids=PEDES_IDS), "test")
    tigr = load_tigr(ensure_tigr(cache, TIGR_SEED, scale="small", langs=("en",)), "en")
    try:
        pedes_scores = _pedes_methods(backbone, split, calibration, composite)
        tigr_metrics, tigr_scores, rows = _tigr_methods(backbone, tigr, calibration, composite)
        metrics = {name: {"pedes": person_retrieval_metrics(pedes_scores[name], split.caption_pids,
                                                             split.image_pids),
                          "tigr": tigr_metrics[name]} for name in METHODS}
        out = Path(out_dir) if out_dir else cache / "report"
        tables = [Table("Person retrieval (synthetic CUHK-PEDES format)",
                        metrics_table({m: metrics[m]["pedes"] for m in METHODS}, PEDES_COLUMNS)),
                  Table("Compositional queries (synthetic TIGR format)",
                        metrics_table({m: metrics[m]["tigr"] for m in METHODS}, TIGR_COLUMNS))]
        galleries = (_pedes_gallery(split, pedes_scores, _spread(len(split.captions), num_examples), top)
                     + _tigr_gallery(tigr, tigr_scores, rows, _spread(len(tigr.queries), num_examples), top))
        report = write_html_report(out / "report.html", f"calibclip demo ({backbone_spec})", tables, galleries)
    finally:
        tigr.close()
    info = {"backbone": backbone_spec, "pedes_queries": len(split.captions), "pedes_gallery": len(split.image_paths),
            "tigr_queries": len(tigr.queries), "tigr_gallery": len(tigr.gallery_ids), "cache": str(cache)}
    result = DemoResult(metrics, report, info)
    write_json(out / "metrics.json", result.to_json())
    return result
