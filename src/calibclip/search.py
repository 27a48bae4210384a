"""The one search entry point: a query → ranked hits with explanations, over an index database.

``calibclip search``, ``calibclip query`` and the web page all call ``Searcher``.
It scores the vectors the index stored (no image is encoded at query time) with
the project's own methods: plain CLIP, CalibCLIP (``calibration.retriever``:
DCC query against the stored CVE embeddings, top-K rerank) and CsdCLIP
(``composite.search``: clauses scored in one batch, combined), and explains
each hit: clause scores, the words DCC masked, the patches CVE suppressed.

Example:
    >>> from calibclip.search import Searcher
    >>> searcher = Searcher("photos.db")                                    # doctest: +SKIP
    >>> for hit in searcher.search("a dog on a sofa, no cats", composite=True).hits:  # doctest: +SKIP
    ...     print(hit.rank, f"{hit.score:.3f}", hit.path, hit.clauses)
"""
from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from calibclip.backbones import load_backbone
from calibclip.backbones.base import Backbone
from calibclip.calibration.cve import CalibratedImages, calibrate_images
from calibclip.calibration.explain import Explanation, explain, patch_boxes
from calibclip.calibration.retriever import (CalibratedRetriever, GalleryFeatures, QueryFeatures, score_features,
                                             similarities)
from calibclip.composite.rewriters import Rewriter, create_rewriter
from calibclip.composite.search import CompositeSearcher, clause_breakdown
from calibclip.config import CalibrationConfig, CompositeConfig, apply_overrides, to_dict
from calibclip.datasets.images import open_image
from calibclip.errors import BadQuery, CorruptData, NotApplicable, UnknownImage
from calibclip.index.encode import inference_context
from calibclip.index.indexer import Indexer, IndexSummary
from calibclip.index.producer import Producer, check_same_cve, check_same_model, describe
from calibclip.index.relevance import REFERENCE_CAPTIONS, match_scores, reference_hash, reference_statistics
from calibclip.index.store import FileRecord, Store
from calibclip.index.thumbs import ThumbnailCache
from calibclip.index.vectors import CANDIDATES, IvfpqCache, StoredVectors, candidate_ids, check_kind
from calibclip.ranking import top_k
from calibclip.types import Clauses

METHODS = ("baseline", "calibrated", "composite")


@dataclass(frozen=True)
class Hit:
    """One ranked image with why it ranked there."""

    id: int                              # database id (URLs use ids, never paths)
    path: str
    rank: int                            # 1 = best under the method searched
    score: float                         # the method's score
    baseline_rank: int                   # plain CLIP rank of the same image
    baseline_score: float                # plain CLIP cosine similarity
    match: float | None = None           # relevance z-score, the --min-score scale (text queries)
    clauses: dict | None = None          # composite: {"and": {clause: sim}, "not": {clause: sim}}
    suppressed: list | None = None       # calibrated: CVE-suppressed patch boxes (left, top, right, bottom)


@dataclass
class SearchResult:
    """The hits of one search and what the query became."""

    method: str
    query: str | None
    hits: list[Hit]
    searched: int                        # images scored
    masked_words: list[str] = field(default_factory=list)   # DCC (calibrated)
    clauses: Clauses | None = None       # composite decomposition
    min_score: float | None = None
    seconds: float = 0.0


@dataclass
class _Scored:
    """Every score of one query over one candidate set (columns = ``vectors.ids``)."""

    vectors: StoredVectors
    scores: dict[str, np.ndarray]
    match: np.ndarray | None = None
    masked_words: list[str] = field(default_factory=list)
    clauses: Clauses | None = None
    clause_scores: object = None


def _rank_of(scores: np.ndarray, col: int) -> int:
    """1-based rank of ``col`` in the project's order (descending, ties to the lower index), without sorting."""
    value = scores[col]
    return int((scores > value).sum() + (scores[:col] == value).sum()) + 1


def _check_k(k: int) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise BadQuery(f"k must be a whole number of at least 1, got {k!r}", "e.g. -k 20")
    return int(k)


class Searcher:
    """Search one index database (see module docstring).

    Args:
        db: the database ``calibclip index`` wrote.
        device: where the backbone runs (``auto``, ``cpu``, ``cuda``).
        calibration: CalibCLIP knobs; default the index's own. CVE knobs must match the index.
        composite: CsdCLIP knobs (default ``CompositeConfig()``).
        backbone: an already-loaded backbone (checked against the index's producer).
    """

    def __init__(self, db: str | Path, device: str = "auto", calibration: CalibrationConfig | None = None,
                 composite: CompositeConfig | None = None, backbone: Backbone | None = None) -> None:
        self.store = Store(db, create=False)
        stored = self.store.producer()
        if stored is None:
            raise CorruptData(f"index {db} is empty", "run 'calibclip index DIR --db PATH' first")
        self.producer = Producer.from_dict(stored)
        self.backbone = backbone if backbone is not None else load_backbone(self.producer.backbone, device)
        # knobs set in ``calibration`` win; every other one is the index's own (resolved when it was made)
        self.cfg = apply_overrides(self.producer.calibration_config(), to_dict(calibration or CalibrationConfig()))
        check_same_model(self.producer, describe(self.backbone, dataclasses.replace(self.cfg, cve_enabled=False)),
                         str(db))
        check_same_cve(self.producer, self.cfg, str(db))
        self.composite_cfg = composite or CompositeConfig()
        self.kind = check_kind(self.store.get_meta("index_kind", "exact"))
        self.thumbnails = ThumbnailCache(db)
        self.rewriters: dict[str, Rewriter] = {}
        self._retriever: CalibratedRetriever | None = None
        self._cache: tuple[int, StoredVectors] | None = None
        self._ivfpq = None
        self._reference: torch.Tensor | None = None
        self._stats: tuple[StoredVectors, np.ndarray, np.ndarray] | None = None

    # -- public ------------------------------------------------------------------
    def search(self, query: str | None = None, *, image: str | Path | None = None, k: int = 20,
               calibrate: bool = False, composite: bool = False, rewriter: str | Rewriter = "rule",
               min_score: float | None = None) -> SearchResult:
        """Rank the index for a text ``query`` or an example ``image`` (exactly one of them)."""
        start = time.perf_counter()
        k = _check_k(k)
        method = "composite" if composite else "calibrated" if calibrate else "baseline"
        if image is not None:
            if query is not None or composite or min_score is not None:
                raise BadQuery("an example image is searched alone",
                               "drop the text query, --composite and --min-score when using --image")
            scored = self._score_image(image, calibrate)
        else:
            scored = self._score_text(self._check_query(query), calibrate, composite, rewriter)
        result = self._result(scored, method, query, k, min_score)
        result.seconds = time.perf_counter() - start
        return result

    def compare(self, query: str, k: int = 20, calibrate: bool = True, composite: bool = True,
                rewriter: str | Rewriter = "rule", min_score: float | None = None) -> dict[str, SearchResult]:
        """Side-by-side results of one text query: baseline, calibrated (if asked) and composite (if asked;
        over calibrated clause scores when ``calibrate``)."""
        k, query = _check_k(k), self._check_query(query)
        methods = ["baseline"] + ["calibrated"] * calibrate + ["composite"] * composite
        out = {}
        for method in methods:
            start = time.perf_counter()
            scored = self._score_text(query, calibrate and method != "baseline", method == "composite", rewriter)
            out[method] = self._result(scored, method, query, k, min_score)
            out[method].seconds = time.perf_counter() - start
        return out

    def explain(self, query: str, image_id: int) -> Explanation:
        """Why ``image_id`` scores as it does for ``query`` under CalibCLIP: heatmap, masked words, scores."""
        record = self.record(image_id)
        stored = self.store.vectors(record.id)
        if stored.heat is None or not self.cfg.cve_enabled:
            raise NotApplicable(f"the index holds no CVE data for backbone {self.producer.backbone!r}",
                                "explanations need a ViT backbone indexed with CVE on")
        rows, cols = self.producer.grid
        as_row = (lambda a, dtype: torch.from_numpy(np.asarray(a, dtype=dtype)[None]))
        images = CalibratedImages(original=as_row(stored.original, np.float32),
                                  calibrated=as_row(stored.calibrated, np.float32),
                                  dominant=as_row(stored.dominant, np.bool_), cls_attention=as_row(stored.heat,
                                                                                                 np.float32),
                                  grid=(rows, cols), num_prefix=0)
        return explain(self.backbone, self._check_query(query), record.path, self.cfg, calibrated=images)

    def record(self, image_id: int) -> FileRecord:
        """The indexed file behind ``image_id`` (``BadQuery`` for an id the index does not hold)."""
        record = self.store.record(image_id) if isinstance(image_id, (int, np.integer)) else None
        if record is None:
            raise UnknownImage(f"no image with id {image_id!r} in this index", "use an id from a search result")
        return record

    def thumbnail(self, image_id: int) -> bytes:
        """JPEG thumbnail of an indexed image (made on first request)."""
        return self.thumbnails.get(self.record(image_id))

    def info(self) -> dict:
        """Size, kind and producer of the index."""
        return {"images": self.store.count(), "kind": self.kind, "producer": self.producer.to_dict(),
                "skipped": len(self.store.skipped())}

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Searcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- scoring -------------------------------------------------------------------
    def _check_query(self, query: str | None) -> str:
        if not isinstance(query, str) or not query.strip():
            raise BadQuery("empty query", 'type what to look for, e.g. "a dog on a sofa"')
        return query.strip()

    def _rewriter(self, rewriter: str | Rewriter) -> Rewriter:
        if not isinstance(rewriter, str):
            return rewriter
        if rewriter not in self.rewriters:
            self.rewriters[rewriter] = create_rewriter(rewriter)
        return self.rewriters[rewriter]

    def _vectors(self, query: torch.Tensor, k: int) -> StoredVectors:
        """The candidate set: every image (exact) or IVF-PQ candidates rescored exactly."""
        if self.kind == "ivfpq":
            if self._ivfpq is None:
                self._ivfpq = IvfpqCache(self.store.path).load(self.store)
            want = max(CANDIDATES, k, self.cfg.rerank_k)
            return StoredVectors.load(self.store, candidate_ids(self._ivfpq, query.numpy(), want).tolist())
        generation = self.store.generation()
        if self._cache is None or self._cache[0] != generation:
            self._cache = (generation, StoredVectors.load(self.store))
        return self._cache[1]

    def _gallery(self, vectors: StoredVectors) -> GalleryFeatures:
        return GalleryFeatures(original=vectors.original,
                               calibrated=vectors.calibrated if self.cfg.cve_enabled else None)

    def _retriever_over(self, gallery: GalleryFeatures) -> CalibratedRetriever:
        if self._retriever is None:
            self._retriever = CalibratedRetriever(self.backbone, self.cfg)
        self._retriever.gallery = gallery
        return self._retriever

    def _score_text(self, query: str, calibrate: bool, composite: bool, rewriter) -> _Scored:
        """Each product once: the plain scores come from the method's own pass when it makes them."""
        with inference_context(self.backbone.device):
            plain = self.backbone.embed_texts([query])
        vectors = self._vectors(plain, CANDIDATES)
        if len(vectors) == 0:
            raise CorruptData("the index holds no images", "run 'calibclip index DIR --db PATH' on a folder")
        gallery = self._gallery(vectors)
        retriever = self._retriever_over(gallery) if calibrate else None
        scored = _Scored(vectors, {})
        if composite:
            searcher = CompositeSearcher(self.backbone, self.composite_cfg, self._rewriter(rewriter), retriever)
            clause_scores = searcher.clause_scores([query], vectors.original)
            combined = searcher.combine(clause_scores, explain_top=0)
            scored.scores = {"baseline": combined.baseline[0], "composite": combined.composite[0]}
            scored.clauses, scored.clause_scores = clause_scores.clauses[0], clause_scores
        elif calibrate:
            queries = retriever.encode_queries([query])
            both = score_features(queries, gallery, self.cfg)
            scored.scores = {"baseline": both["baseline"][0], "calibrated": both["calibrated"][0]}
            scored.masked_words = queries.masked_words[0]
        else:
            scored.scores = {"baseline": similarities(plain, vectors.original)[0]}
        scored.match = self._match(scored)
        return scored

    def _score_image(self, image: str | Path, calibrate: bool) -> _Scored:
        picture = open_image(image)
        pixels = self.backbone.preprocess(picture).unsqueeze(0).to(self.backbone.device)
        if self.cfg.cve_enabled:
            both = calibrate_images(self.backbone, pixels, self.cfg)
            original, cve = both.original.float().cpu(), both.calibrated.float().cpu()
        else:
            original = cve = self.backbone.encode_image(pixels).float().cpu()
        vectors = self._vectors(original, CANDIDATES)
        scores = {"baseline": (original @ vectors.original.T).numpy()[0]}
        if calibrate:
            # the example image's CVE embedding plays the DCC query's part against the stored CVE images
            queries = QueryFeatures(original=original, discriminative=cve, masked_words=[[]], masked_texts=[""])
            scores["calibrated"] = score_features(queries, self._gallery(vectors), self.cfg)["calibrated"][0]
        return _Scored(vectors, scores)

    def _match(self, scored: _Scored) -> np.ndarray:
        """Relevance z-scores: the query's (composite: the weakest AND clause's) against reference captions."""
        mean, std = self._reference_stats(scored.vectors)
        if scored.clauses is None:
            return match_scores(scored.scores["baseline"], mean, std)
        parts = scored.clauses.and_clauses or (scored.clauses.optimized,)
        sims = scored.clause_scores.plain[[scored.clause_scores.rows[p] for p in parts]]
        return np.min([match_scores(row, mean, std) for row in sims], axis=0)

    def _reference_stats(self, vectors: StoredVectors) -> tuple[np.ndarray, np.ndarray]:
        """Per-image reference-caption statistics: stored by the indexer, or computed (other captions)."""
        if vectors.reference is not None and self.producer.reference == reference_hash():
            return vectors.reference[:, 0], vectors.reference[:, 1]
        if self._stats is not None and self._stats[0] is vectors:
            return self._stats[1], self._stats[2]
        if self._reference is None:
            self._reference = self.backbone.embed_texts(list(REFERENCE_CAPTIONS))
        mean, std = reference_statistics(self._reference, vectors.original)
        self._stats = (vectors, mean, std)
        return mean, std

    # -- results -------------------------------------------------------------------
    def _result(self, scored: _Scored, method: str, query: str | None, k: int,
                min_score: float | None) -> SearchResult:
        scores, baseline = scored.scores[method], scored.scores["baseline"]
        columns = None if min_score is None else np.flatnonzero(scored.match >= float(min_score))
        chosen = [] if columns is not None and not len(columns) else \
            top_k(scores if columns is None else scores[columns], k)
        chosen = chosen if columns is None else columns[chosen]
        hits = [self._hit(scored, method, int(col), rank + 1, scores, _rank_of(baseline, int(col)))
                for rank, col in enumerate(chosen)]
        return SearchResult(method=method, query=query, hits=hits, searched=len(scored.vectors),
                            masked_words=scored.masked_words, clauses=scored.clauses, min_score=min_score)

    def _hit(self, scored: _Scored, method: str, col: int, rank: int, scores: np.ndarray,
             baseline_rank: int) -> Hit:
        record = self.store.record(int(scored.vectors.ids[col]))
        clauses = suppressed = None
        if method == "composite":
            source = scored.clause_scores.calibrated
            source = scored.clause_scores.plain if source is None else source
            clauses = clause_breakdown(scored.clauses, source, scored.clause_scores.rows, col)
        if method == "calibrated" and self.cfg.cve_enabled and self.producer.grid:
            mask = self.store.vectors(record.id).dominant.reshape(self.producer.grid).astype(bool)
            suppressed = [list(b) for b in patch_boxes(mask, (record.width, record.height))]
        return Hit(id=record.id, path=record.path, rank=rank, score=float(scores[col]),
                   baseline_rank=baseline_rank, baseline_score=float(scored.scores["baseline"][col]),
                   match=None if scored.match is None else float(scored.match[col]), clauses=clauses,
                   suppressed=suppressed)


@contextlib.contextmanager
def ephemeral_searcher(folder: str | Path, backbone: Backbone, calibration: CalibrationConfig | None = None,
                       batch_size: int = 32, workers: int = 2) -> Iterator[tuple[Searcher, IndexSummary]]:
    """Index ``folder`` into a temporary database and search that (``calibclip query``); deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="calibclip-query-") as tmp:
        db = Path(tmp) / "index.db"
        summary = Indexer(db, backbone, cfg=calibration, batch_size=batch_size, workers=workers).run(folder)
        searcher = Searcher(db, calibration=calibration, backbone=backbone)
        try:
            yield searcher, summary
        finally:
            searcher.close()


__all__ = ["Searcher", "Hit", "SearchResult", "METHODS", "ephemeral_searcher"]
