"""``calibclip demo``: the whole product on the two bundled models, no flags, no downloads.

Generates (or reuses, cached) a small synthetic person set of look-alikes and a
small compositional (TIGR-format) set, both drawn in a style neither model was
trained on, and runs plain retrieval, CalibCLIP, CsdCLIP and both together with
each bundled model: ``tiny`` (the control, which has none of the failures the
methods correct) and ``tiny-web`` (the miniature of web-trained CLIP). Each
model's own diagnosis verdict is printed beside its numbers, so a user sees where
the methods help and where they correctly stay out of the way. The numbers come
from demonstration models trained on our own drawings: they show the mechanics,
not real-photo accuracy.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from calibclip.backbones import load_backbone
from calibclip.calibration.diagnosis_cache import diagnosis_for
from calibclip.composite.rewriters import create_rewriter
from calibclip.config import cache_root
from calibclip.datasets.generated import ensure_pedes, ensure_tigr
from calibclip.datasets.pedes import PedesSplit, load_pedes
from calibclip.datasets.pedes_gold import pedes_gold
from calibclip.datasets.synthetic_pedes import PedesOptions
from calibclip.datasets.tigr import TigrSet, load_tigr
from calibclip.evaluation.method_study import METHODS, PERSON_METRICS, SCENE_METRICS, person_bed, scene_bed, score_bed
from calibclip.evaluation.metrics import rank_gallery
from calibclip.evaluation.report import QueryResults, Table, Thumb, metrics_table, write_html_report, write_json

log = logging.getLogger(__name__)

DEMO_BACKBONES = ("tiny", "tiny-web")
PEDES_SEED, TIGR_SEED = 90210, 90211  # never used for training or for choosing a preset
PEDES_IDS = 240
PEDES_OPTIONS = PedesOptions(style="heldout", lookalike_group=4)  # a drawing style no model was trained on
TIGR_STYLE = "heldout"


@dataclass
class DemoResult:
    """Per model: metrics per set and method, and its diagnosis; plus where the report went."""

    models: dict[str, dict[str, Any]]
    report: Path
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"models": self.models, "report": str(self.report), "info": self.info}


def default_cache_dir() -> Path:
    """``$CALIBCLIP_CACHE/demo`` or ``~/.cache/calibclip/demo``."""
    return cache_root() / "demo"


def verdict_line(diagnosis: dict[str, Any]) -> str:
    """One line per model: does each method have something to correct on it (``calibclip diagnose``)."""
    if not diagnosis:
        return "no diagnosis (run `calibclip diagnose`)"
    parts = []
    for method in ("cve", "dcc"):
        verdict = diagnosis.get(method, {})
        applies = verdict.get("applies")
        parts.append(f"{method.upper()} {'applies' if applies else 'nothing to correct' if applies is False else '?'}")
    return ", ".join(parts)


def _spread(count: int, n: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, count - 1, num=min(n, count))})


def _pedes_gallery(split: PedesSplit, scores: dict[str, np.ndarray], queries: Sequence[int],
                   top: int, model: str) -> list[QueryResults]:
    out = []
    for q in queries:
        methods = {name: [Thumb(split.image_paths[g], "match" if split.image_pids[g] == split.caption_pids[q]
                                else "miss") for g in rank_gallery(matrix[q:q + 1], top)[0]]
                   for name, matrix in scores.items()}
        out.append(QueryResults(split.captions[q], methods, model))
    return out


def _tigr_gallery(tigr: TigrSet, scores: dict[str, np.ndarray], queries: Sequence[int],
                  top: int, model: str) -> list[QueryResults]:
    gains = tigr.gains()
    grade = {1.0: "HR", 0.5: "MR"}
    clauses = create_rewriter("rule").rewrite_many([tigr.queries[q].clauses.raw for q in queries], tigr.lang)
    out = []
    for q, parts in zip(queries, clauses):
        methods = {name: [Thumb(tigr.load_image(tigr.gallery_ids[g]), grade.get(gains[q].get(int(g), 0.0), "IR"))
                          for g in rank_gallery(matrix[q:q + 1], top)[0]] for name, matrix in scores.items()}
        note = f"{model} | AND: {'; '.join(parts.and_clauses) or '-'} | NOT: {'; '.join(parts.not_clauses) or '-'}"
        out.append(QueryResults(parts.raw, methods, note))
    return out


def run_demo(out_dir: str | Path | None = None, backbones: Sequence[str] = DEMO_BACKBONES, device: str = "auto",
             cache_dir: str | Path | None = None, num_examples: int = 2, top: int = 5) -> DemoResult:
    """Generate/reuse the demo sets, evaluate every method with every model, write ``report.html``.

    The report and ``metrics.json`` go to ``out_dir``, by default ``<cache>/report`` (never the
    working directory).

    Example:
        >>> result = run_demo()
        >>> result.models["tiny-web"]["pedes"]["calibrated"]["rank1"], result.report
    """
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    loaded = {spec: load_backbone(spec, device) for spec in backbones}  # a bad spec fails before any drawing
    root = ensure_pedes(cache, PEDES_SEED, ids=PEDES_IDS, options=PEDES_OPTIONS)
    split = load_pedes(root, "test")
    person = person_bed(split, pedes_gold(root.parent, "test"))
    tigr = load_tigr(ensure_tigr(cache, TIGR_SEED, scale="small", langs=("en",), style=TIGR_STYLE), "en")
    models: dict[str, dict[str, Any]] = {}
    tables: list[Table] = []
    galleries: list[QueryResults] = []
    try:
        scene = scene_bed(tigr)
        for spec, backbone in loaded.items():
            log.info("demo: %s", spec)
            person_scores = score_bed(backbone, person, METHODS)
            scene_scores = score_bed(backbone, scene, METHODS)
            diagnosis = diagnosis_for(backbone)
            models[spec] = {"pedes": {m: person.metrics(s) for m, s in person_scores.items()},
                            "tigr": {m: scene.metrics(s) for m, s in scene_scores.items()},
                            "diagnosis": diagnosis, "verdict": verdict_line(diagnosis)}
            tables += [Table(f"{spec} ({models[spec]['verdict']}): person retrieval, synthetic CUHK-PEDES format",
                             metrics_table(models[spec]["pedes"], PERSON_METRICS)),
                       Table(f"{spec}: compositional queries, synthetic TIGR format",
                             metrics_table(models[spec]["tigr"], SCENE_METRICS))]
            galleries += (_pedes_gallery(split, person_scores, _spread(len(split.captions), num_examples), top, spec)
                          + _tigr_gallery(tigr, scene_scores, _spread(len(tigr.queries), num_examples), top, spec))
        out = Path(out_dir) if out_dir else cache / "report"
        report = write_html_report(out / "report.html", f"calibclip demo ({', '.join(backbones)})", tables, galleries)
    finally:
        tigr.close()
    info = {"backbones": list(backbones), "pedes_queries": len(split.captions),
            "pedes_gallery": len(split.image_paths), "tigr_queries": len(tigr.queries),
            "tigr_gallery": len(tigr.gallery_ids), "drawing_style": PEDES_OPTIONS.style,
            "lookalike_group": PEDES_OPTIONS.lookalike_group, "cache": str(cache)}
    result = DemoResult(models, report, info)
    write_json(out / "metrics.json", result.to_json())
    return result
