"""CsdCLIP composite search: rewrite queries, score every clause in one batch, combine.

All texts of all queries (raw query, optimized query, AND and NOT clauses,
deduplicated) are encoded in ONE text batch and scored against the gallery
with ONE matrix product; ``scoring.composite_scores`` then combines them per
query. With a ``CalibratedRetriever`` the texts are scored by CalibCLIP
instead (DCC texts against CVE images, top-K rerank), so both methods stack.

The *baseline* is plain CLIP on the raw query as typed: what a user gets
without either method.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from calibclip.backbones.base import Backbone
from calibclip.calibration.retriever import CalibratedRetriever, similarities
from calibclip.composite.rewriters import Rewriter, create_rewriter
from calibclip.composite.scoring import ClauseLayout, composite_scores
from calibclip.config import CompositeConfig
from calibclip.errors import BadQuery, ConfigError
from calibclip.index.encode import inference_context
from calibclip.ranking import top_k
from calibclip.types import Clauses


@dataclass
class CompositeResult:
    """Scores (Q, G) float32 per method plus the clause scores behind the top composite results.

    Attributes:
        clauses: the decomposition of each query.
        baseline: plain scores of each raw query.
        composite: composite scores (over calibrated clause scores when calibration is on).
        calibrated: CalibCLIP scores of each raw query (float64, see ``rerank``), or None without calibration.
        plain_composite: with calibration, the composite scores over the *plain* clause
            scores (CsdCLIP alone); None without calibration (``composite`` is that then).
        explanations: per query, for its top ``explain_top`` composite results:
            ``{"index", "score", "and": {clause: sim}, "not": {clause: sim}}``.
    """

    clauses: list[Clauses]
    baseline: np.ndarray
    composite: np.ndarray
    calibrated: np.ndarray | None = None
    plain_composite: np.ndarray | None = None
    explanations: list[list[dict]] = field(default_factory=list)


@dataclass
class ClauseScores:
    """Every distinct text of a query batch scored once: ``rows`` maps text → row of (T, G) matrices.

    With calibration, ``calibrated`` holds each text against the CVE image embeddings
    (no per-clause DCC masking, no per-clause rerank: see ``CompositeSearcher``) and
    ``queries_calibrated`` the full CalibCLIP scores of each raw query (Q, G).
    """

    clauses: list[Clauses]
    rows: dict[str, int]
    plain: np.ndarray
    calibrated: np.ndarray | None = None
    queries_calibrated: np.ndarray | None = None


def _texts_of(clauses: Sequence[Clauses]) -> tuple[list[str], dict[str, int]]:
    """Unique texts to encode (raw, optimized, clauses of every query) and their row numbers."""
    rows: dict[str, int] = {}
    for c in clauses:
        for text in (c.raw, c.optimized, *c.and_clauses, *c.not_clauses):
            rows.setdefault(text, len(rows))
    return list(rows), rows


def _check_clauses(c: Clauses) -> Clauses:
    if not c.raw.strip() and not c.optimized.strip():
        raise BadQuery("empty query in composite search", "every query needs text to search for")
    blank = [x for x in (*c.and_clauses, *c.not_clauses) if not x.strip()]
    if blank or not c.optimized.strip():
        return Clauses(raw=c.raw or c.optimized, optimized=c.optimized.strip() or c.raw,
                       and_clauses=tuple(x for x in c.and_clauses if x.strip()),
                       not_clauses=tuple(x for x in c.not_clauses if x.strip()),
                       time=c.time, place=c.place, person=c.person, intention=c.intention)
    return c


class CompositeSearcher:
    """Composite (CsdCLIP) scoring of queries against one gallery, optionally over CalibCLIP.

    Example:
        >>> searcher = CompositeSearcher(load_backbone("tiny"), rewriter=create_rewriter("rule"))
        >>> result = searcher.score(["a man in a red coat, no bag"], gallery_embeddings)
        >>> result.composite.shape                                    # (1, G)
    """

    def __init__(self, backbone: Backbone, cfg: CompositeConfig | None = None, rewriter: Rewriter | None = None,
                 calibration: CalibratedRetriever | None = None, lang: str = "en") -> None:
        self.backbone = backbone
        self.cfg = cfg or CompositeConfig()
        self.rewriter = rewriter or create_rewriter("rule")
        self.calibration = calibration
        self.lang = lang

    def decompose(self, queries: Sequence[str] | Sequence[Clauses]) -> list[Clauses]:
        """Rewrite raw strings with the rewriter; ``Clauses`` pass through (checked)."""
        if not len(queries):
            raise BadQuery("no queries to search", "pass at least one query")
        texts = [q for q in queries if not isinstance(q, Clauses)]
        rewritten = iter(self.rewriter.rewrite_many(texts, self.lang) if texts else [])
        return [_check_clauses(q if isinstance(q, Clauses) else next(rewritten)) for q in queries]

    def _score_texts(self, texts: list[str], gallery_emb: np.ndarray | torch.Tensor | None
                     ) -> tuple[np.ndarray, np.ndarray | None]:
        """(plain scores, scores against the CVE images or None) of ``texts``, (T, G) each.

        With calibration, clauses meet CalibCLIP on the image side only. DCC would mask one
        of the two or three content words of a short clause (often its colour: "a woman in
        a green dress"), and a per-clause top-K rerank shifts the items below K, which
        distorts the z-scores the clauses are combined with (docs/methods/csdclip.md).
        """
        if self.calibration is not None:
            gallery = self.calibration.gallery
            if gallery is None:
                raise ConfigError("the CalibratedRetriever has no encoded gallery", "call encode_gallery first")
            with inference_context(self.backbone.device):
                texts_emb = self.backbone.embed_texts(texts)
            images = gallery.calibrated if gallery.calibrated is not None else gallery.original
            return similarities(texts_emb, gallery.original), similarities(texts_emb, images)
        if gallery_emb is None:
            raise ConfigError("no gallery embeddings to score against",
                              "pass gallery_emb (G, D) or a CalibratedRetriever with an encoded gallery")
        gallery = torch.as_tensor(gallery_emb)  # any float dtype, scored in float32 block by block
        if gallery.ndim != 2 or gallery.shape[1] != self.backbone.embed_dim:
            raise ConfigError(f"gallery embeddings have shape {tuple(gallery.shape)}",
                              f"expected (G, {self.backbone.embed_dim}) from the same backbone")
        with inference_context(self.backbone.device):
            texts_emb = self.backbone.embed_texts(texts)
        return similarities(texts_emb, gallery), None

    def clause_scores(self, queries: Sequence[str] | Sequence[Clauses],
                      gallery_emb: np.ndarray | torch.Tensor | None = None) -> ClauseScores:
        """Decompose ``queries`` and score every distinct text once (one batch, one matmul)."""
        clauses = self.decompose(queries)
        texts, rows = _texts_of(clauses)
        plain, calibrated = self._score_texts(texts, gallery_emb)
        queries_calibrated = None
        if self.calibration is not None:  # the CalibCLIP row: the full method on each raw query
            queries_calibrated = self.calibration.score([c.raw for c in clauses])["calibrated"]
        return ClauseScores(clauses, rows, plain, calibrated, queries_calibrated)

    def combine(self, scores: ClauseScores, explain_top: int = 10, skipped: Sequence[int] = (),
                cfg: CompositeConfig | None = None) -> CompositeResult:
        """Per-query composite combination of precomputed text scores (``cfg`` overrides ``self.cfg``)."""
        clauses, rows = scores.clauses, scores.rows
        source = scores.calibrated if scores.calibrated is not None else scores.plain
        layout, clause_rows = _layout(clauses, rows)
        raw = np.array([rows[c.raw] for c in clauses])
        optimized = np.array([rows[c.optimized] for c in clauses])

        def combined(matrix: np.ndarray, fallback: np.ndarray) -> np.ndarray:
            """``fallback`` ranks a query that is not composite (one clause, no NOT)."""
            return composite_scores(fallback, matrix[optimized], matrix[clause_rows], layout, cfg or self.cfg)

        calibrated = scores.queries_calibrated
        plain_composite = combined(scores.plain, scores.plain[raw])
        result = CompositeResult(clauses=clauses, baseline=scores.plain[raw].astype(np.float32),
                                 composite=plain_composite if calibrated is None else combined(source, calibrated),
                                 calibrated=calibrated, plain_composite=None if calibrated is None else plain_composite)
        _push_down(result, list(skipped))
        result.explanations = _explain(result, source, rows, explain_top)
        return result

    def score(self, queries: Sequence[str] | Sequence[Clauses], gallery_emb: np.ndarray | torch.Tensor | None = None,
              explain_top: int = 10, skipped: Sequence[int] = ()) -> CompositeResult:
        """Baseline, (calibrated) and composite scores of ``queries`` over the whole gallery.

        ``skipped`` lists gallery rows that hold no image (unreadable files):
        they are scored last by every method.
        """
        return self.combine(self.clause_scores(queries, gallery_emb), explain_top, skipped)


def _layout(clauses: Sequence[Clauses], rows: dict[str, int]) -> tuple[ClauseLayout, np.ndarray]:
    owner, is_not, text_rows = [], [], []
    for q, c in enumerate(clauses):
        for text, negated in [*((t, False) for t in c.and_clauses), *((t, True) for t in c.not_clauses)]:
            owner.append(q)
            is_not.append(negated)
            text_rows.append(rows[text])
    return (ClauseLayout(np.array(owner, dtype=np.int64), np.array(is_not, dtype=bool)),
            np.array(text_rows, dtype=np.int64))


def _push_down(result: CompositeResult, skipped: list[int]) -> None:
    """Score gallery rows without an image below every real candidate, in every matrix."""
    if not skipped:
        return
    for scores in (result.baseline, result.composite, result.calibrated, result.plain_composite):
        if scores is not None and scores.size:
            scores[:, skipped] = np.delete(scores, skipped, axis=1).min(initial=0.0) - 1.0


def clause_breakdown(clauses: Clauses, scores: np.ndarray, rows: dict[str, int], column: int) -> dict:
    """The AND and NOT clause scores of one gallery column: ``{"and": {clause: sim}, "not": {...}}``."""
    return {"and": {t: float(scores[rows[t], column]) for t in clauses.and_clauses},
            "not": {t: float(scores[rows[t], column]) for t in clauses.not_clauses}}


def _explain(result: CompositeResult, scores: np.ndarray, rows: dict[str, int], top: int) -> list[list[dict]]:
    """Clause scores behind each query's top ``top`` composite results."""
    if top < 1:
        return [[] for _ in result.clauses]
    order = top_k(result.composite, top)
    return [[{"index": int(g), "score": float(result.composite[q, g]), **clause_breakdown(c, scores, rows, int(g))}
             for g in order[q]] for q, c in enumerate(result.clauses)]
