"""Plain CLIP, CalibCLIP, CsdCLIP and both on one test bed; paired deltas over fresh seeds.

A test bed is one generated set: person captions over a person gallery (IRRA
metrics) or TIGR queries over a scene gallery (graded metrics). Every variant
shares one gallery encoding per calibration setting and one text encoding per
rewriter, so a study over seeds costs a few encodings per seed. The calibration
knobs are never chosen here: ``preset`` is the backbone's own preset (chosen on a
dev seed before any test seed was drawn, ``calibration_study.choose_preset``) and
``public`` the method's public-code values. The composite knobs are the library
defaults (the AND mode chosen on a dev seed, docs/methods/csdclip.md); the
variants that change them are reported beside them, whether they win or lose.

The equal-cost control for the composite search splits each query into as many
contiguous word chunks as the rule rewriter found AND clauses, at random
boundaries, with no NOT clause: the same number of text encodings and the same
combination, but no linguistic decomposition.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from calibclip.backbones.base import Backbone
from calibclip.calibration.presets import resolve_calibration
from calibclip.calibration.retriever import CalibratedRetriever, GalleryFeatures
from calibclip.composite.rewriters import create_rewriter
from calibclip.composite.search import ClauseScores, CompositeSearcher
from calibclip.config import CalibrationConfig, CompositeConfig
from calibclip.evaluation.calibration_study import cve_key, summarise
from calibclip.evaluation.composite_eval import tigr_metrics
from calibclip.evaluation.metrics import person_retrieval_metrics
from calibclip.types import Clauses

if TYPE_CHECKING:
    from calibclip.datasets.pedes import PedesSplit
    from calibclip.datasets.tigr import TigrSet

log = logging.getLogger(__name__)

PERSON_METRICS = ("rank1", "rank5", "rank10", "mAP")
SCENE_METRICS = ("GRP@10", "NIPR@10", "nDCG@10", "HR-Hit@10", "R@1")


@dataclass(frozen=True)
class Variant:
    """One row: a rewriter (None: the raw query only), a calibration (None, ``preset``, ``public``), AND knobs."""

    rewriter: str | None = None          # rule | gold | random-split
    calibration: str | None = None       # preset | public
    composite: tuple[tuple[str, Any], ...] = ()  # CompositeConfig overrides


# the four methods every user sees (the demo's rows)
METHODS: dict[str, Variant] = {
    "baseline": Variant(),
    "calibrated": Variant(calibration="preset"),
    "composite": Variant("rule"),
    "composite+calibrated": Variant("rule", "preset"),
}
# the study's extra rows: other fixed knobs, gold clauses, the equal-cost control
STUDY_VARIANTS: dict[str, Variant] = {
    **METHODS,
    "calibrated (public-code values)": Variant(calibration="public"),
    "composite, softmin AND (a conjunction)": Variant("rule", composite=(("and_mode", "softmin"),)),
    "composite, min AND": Variant("rule", composite=(("and_mode", "min"),)),
    "composite, gold clauses": Variant("gold"),
    "control: random word split": Variant("random-split"),
}


@dataclass
class EvalBed:
    """One generated evaluation set, reduced to what the methods and the metrics need."""

    kind: str                                   # person | scene
    queries: list[str]
    images: list[Any]                           # image sources (paths or bytes)
    metrics: Callable[[np.ndarray], dict[str, float]]
    gold: dict[str, Clauses] = field(default_factory=dict)  # raw query → gold decomposition
    lang: str = "en"


def person_bed(split: "PedesSplit", gold: Sequence[Clauses] = ()) -> EvalBed:
    """A person split: every caption against every image, IRRA metrics."""
    def metrics(scores: np.ndarray) -> dict[str, float]:
        out = person_retrieval_metrics(scores, split.caption_pids, split.image_pids)
        return {k: out[k] for k in PERSON_METRICS}
    return EvalBed("person", list(split.captions), list(split.image_paths), metrics, {g.raw: g for g in gold})


def scene_bed(tigr: "TigrSet") -> EvalBed:
    """A TIGR set: every query against the whole gallery, graded metrics (HR = R@1 positive)."""
    gains = tigr.gains()

    def metrics(scores: np.ndarray) -> dict[str, float]:
        out = tigr_metrics(scores, gains, (1, 5, 10))
        return {k: out[k] for k in SCENE_METRICS}
    sources = [tigr.image_source(i) for i in range(len(tigr.gallery_ids))]
    return EvalBed("scene", [q.clauses.raw for q in tigr.queries], sources, metrics,
                   {q.clauses.raw: q.clauses for q in tigr.queries}, tigr.lang)


def random_split(clauses: Clauses, rng: np.random.Generator) -> Clauses:
    """The control: as many contiguous word chunks of the raw query as ``clauses`` has AND clauses."""
    words = clauses.raw.split()
    parts = min(len(clauses.and_clauses), len(words))
    if parts < 2:
        return Clauses(clauses.raw, clauses.raw, (clauses.raw,))
    cuts = np.sort(rng.choice(np.arange(1, len(words)), size=parts - 1, replace=False))
    chunks = tuple(" ".join(c) for c in np.split(np.array(words, dtype=object), cuts))
    return Clauses(clauses.raw, clauses.raw, chunks)


def _calibrations(backbone: Backbone) -> dict[str, CalibrationConfig]:
    return {"preset": resolve_calibration(None, backbone), "public": resolve_calibration(CalibrationConfig())}


class _Scorer:
    """Caches the expensive parts (gallery per calibration, clause scores per rewriter) across variants."""

    def __init__(self, backbone: Backbone, bed: EvalBed, seed: int, workers: int) -> None:
        self.backbone, self.bed, self.seed, self.workers = backbone, bed, seed, workers
        self.configs = _calibrations(backbone)
        self.retrievers: dict[str, CalibratedRetriever] = {}
        self.clause_cache: dict[tuple, ClauseScores] = {}
        self.query_scores: dict[str, dict[str, np.ndarray]] = {}
        self.rule: list[Clauses] | None = None

    def retriever(self, name: str) -> CalibratedRetriever:
        if name not in self.retrievers:
            retriever = CalibratedRetriever(self.backbone, self.configs[name])
            same = next((r for r in self.retrievers.values()
                         if _cve_same(r.cfg, retriever.cfg)), None)
            if same is not None:  # one ViT pass per distinct CVE setting
                retriever.gallery = same.gallery
            else:
                retriever.encode_gallery(self.bed.images, workers=self.workers)
            self.retrievers[name] = retriever
        return self.retrievers[name]

    @property
    def gallery(self) -> GalleryFeatures:
        return self.retriever("preset").gallery

    def clauses(self, rewriter: str) -> list[Clauses]:
        if self.rule is None:
            self.rule = create_rewriter("rule").rewrite_many(self.bed.queries, self.bed.lang)
        if rewriter == "rule":
            return self.rule
        if rewriter == "gold":
            return [self.bed.gold.get(q, r) for q, r in zip(self.bed.queries, self.rule)]
        rng = np.random.default_rng(self.seed)
        return [random_split(c, rng) for c in self.rule]

    def clause_scores(self, rewriter: str, calibration: str | None) -> ClauseScores:
        key = (rewriter, calibration)
        if key not in self.clause_cache:
            retriever = self.retriever(calibration) if calibration else None
            searcher = CompositeSearcher(self.backbone, calibration=retriever, lang=self.bed.lang)
            gallery = None if retriever else self.gallery.original
            self.clause_cache[key] = searcher.clause_scores(self.clauses(rewriter), gallery)
        return self.clause_cache[key]

    def scores(self, variant: Variant) -> np.ndarray:
        if variant.rewriter is None:
            name = variant.calibration or "preset"
            if name not in self.query_scores:  # baseline and calibrated rows share one query encoding
                self.query_scores[name] = self.retriever(name).score(self.bed.queries)
            return self.query_scores[name]["calibrated" if variant.calibration else "baseline"]
        cfg = dataclasses.replace(CompositeConfig(), **dict(variant.composite))
        searcher = CompositeSearcher(self.backbone, cfg)
        skipped = sorted(self.gallery.report.skipped)
        return searcher.combine(self.clause_scores(variant.rewriter, variant.calibration), 0, skipped).composite


def _cve_same(a: CalibrationConfig, b: CalibrationConfig) -> bool:
    """Same CVE image embeddings: both off, or both on with the same knobs."""
    return cve_key(a) == cve_key(b) if a.cve_enabled and b.cve_enabled else a.cve_enabled == b.cve_enabled


def score_bed(backbone: Backbone, bed: EvalBed, variants: dict[str, Variant], seed: int = 0,
              workers: int = 2) -> dict[str, np.ndarray]:
    """The (Q, G) score matrix of every variant on ``bed`` (shared encodings)."""
    scorer = _Scorer(backbone, bed, seed, workers)
    return {name: scorer.scores(variant) for name, variant in variants.items()}


def evaluate_bed(backbone: Backbone, bed: EvalBed, variants: dict[str, Variant], seed: int = 0,
                 workers: int = 2) -> dict[str, dict[str, float]]:
    """The metrics of every variant on ``bed``."""
    return {name: bed.metrics(s) for name, s in score_bed(backbone, bed, variants, seed, workers).items()}


def paired_rows(runs: dict[str, list[dict[str, float]]], columns: Sequence[str],
                deltas: Sequence[str]) -> list[dict[str, Any]]:
    """Per variant (name → one metrics dict per seed): mean ± std, paired Δ against the first (baseline)."""
    base = next(iter(runs.values()))
    return [summarise(name, seeds, base, columns, deltas) for name, seeds in runs.items()]


@dataclass
class StudyData:
    """Which generated sets a study draws (every value recorded with the results)."""

    data_dir: str
    person_ids: int = 450
    person_options: dict[str, Any] = field(default_factory=lambda: {"style": "heldout", "lookalike_group": 4})
    scene_scale: str = "default"
    scene_style: str = "heldout"
    lang: str = "en"


def seed_beds(data: StudyData, seed: int) -> tuple[EvalBed, "TigrSet"]:
    """The person and scene test beds of one fresh seed (generated once, cached under ``data_dir``)."""
    from pathlib import Path

    from calibclip.datasets.pedes import load_pedes
    from calibclip.datasets.pedes_gold import pedes_gold
    from calibclip.datasets.synthetic_pedes import PedesOptions
    from calibclip.datasets.tigr import load_tigr
    from calibclip.datasets.generated import ensure_pedes, ensure_tigr

    options = PedesOptions(lang=data.lang, **data.person_options)
    root = ensure_pedes(Path(data.data_dir), seed, data.person_ids, options)
    gold = pedes_gold(root.parent, "test") if data.lang == "en" else []
    tigr = load_tigr(ensure_tigr(Path(data.data_dir), seed, data.scene_scale, (data.lang,), data.scene_style),
                     data.lang)
    return person_bed(load_pedes(root, "test"), gold), tigr


def run_method_study(backbone: Backbone, data: StudyData, seeds: Sequence[int],
                     variants: dict[str, Variant] | None = None, workers: int = 2) -> dict[str, Any]:
    """Every variant on the person and scene sets of every seed → paired rows per set, and every number."""
    variants = variants or STUDY_VARIANTS
    runs: dict[str, dict[str, list]] = {"person": {name: [] for name in variants},
                                        "scene": {name: [] for name in variants}}
    for seed in seeds:
        person, tigr = seed_beds(data, seed)
        try:
            for bed in (person, scene_bed(tigr)):
                log.info("seed %d: %s set, %d queries over %d images", seed, bed.kind, len(bed.queries),
                         len(bed.images))
                for name, metrics in evaluate_bed(backbone, bed, variants, seed, workers).items():
                    runs[bed.kind][name].append(metrics)
        finally:
            tigr.close()
    return {"person": paired_rows(runs["person"], PERSON_METRICS, ("rank1", "mAP")),
            "scene": paired_rows(runs["scene"], SCENE_METRICS, ("NIPR@10", "GRP@10", "R@1")),
            "runs": runs, "seeds": list(seeds), "data": dataclasses.asdict(data)}


__all__ = ["StudyData", "seed_beds", "run_method_study", "Variant", "METHODS", "STUDY_VARIANTS", "PERSON_METRICS",
           "SCENE_METRICS", "EvalBed", "person_bed", "scene_bed", "random_split", "score_bed", "evaluate_bed",
           "paired_rows"]
