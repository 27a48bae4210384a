"""How well a rewriter reproduces gold TIGR lines: clause P/R/F1, exact-line accuracy, parse rate.

Clause matching is ``evaluation.clause_match`` (content-token F1 ≥ 0.8, one
gold clause per prediction). A line is exact when its TIGR formatting equals
the gold one's (whitespace normalised): time, place, person, intention,
optimized query, AND and NOT clauses all identical.

Two views of an LLM rewriter: ``model_only=True`` scores what the model wrote
(an answer that did not parse counts as an empty decomposition);
``model_only=False`` scores what the rewriter returned (``rule`` where the
model failed), which is what retrieval sees.
"""
from __future__ import annotations

from typing import Sequence

from calibclip.composite.clauses import format_tigr_text
from calibclip.evaluation.clause_match import clause_agreement
from calibclip.types import Clauses


def is_fallback(clauses: Clauses) -> bool:
    """True when an LLM rewriter answered with its fallback (flagged in ``extra``)."""
    return "fallback" in clauses.extra


def same_line(a: Clauses, b: Clauses) -> bool:
    """Whether two decompositions write the same TIGR line."""
    return " ".join(format_tigr_text(a).split()) == " ".join(format_tigr_text(b).split())


def rewrite_scores(predicted: Sequence[Clauses], gold: Sequence[Clauses], model_only: bool = False) -> dict:
    """AND / NOT clause P, R, F1 and exact-line accuracy (percent), parse rate, query count."""
    parsed = 100.0 * sum(not is_fallback(p) for p in predicted) / max(1, len(predicted))
    if model_only:
        predicted = [Clauses(raw=p.raw, optimized="") if is_fallback(p) else p for p in predicted]
    out = clause_agreement(predicted, gold)
    out["exact"] = 100.0 * sum(same_line(p, g) for p, g in zip(predicted, gold)) / max(1, len(gold))
    out["parsed"] = parsed
    return out
