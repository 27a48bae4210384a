"""How well an LLM rewriter reproduces gold TIGR lines: ``rewriter_eval`` scores + exact lines + parse rate.

Clause P/R/F1, malformed clauses and negation inversions are
``evaluation.rewriter_eval.rewriter_scores`` (one language), or the clause
P/R/F1 of ``clause_match`` alone for a mix of languages. A line is **exact**
when its TIGR formatting equals the gold one's (whitespace normalised): time,
place, person, intention, optimized query, AND and NOT clauses all identical.
**parsed** is the share of answers the TIGR parser accepted.

Two views of an LLM rewriter: ``model_only=True`` scores what the model wrote
(an answer that did not parse counts as an empty decomposition);
``model_only=False`` scores what the rewriter returned (``rule`` where the
model failed), which is what retrieval sees.
"""
from __future__ import annotations

from typing import Sequence

from calibclip.composite.clauses import format_tigr_text
from calibclip.evaluation.clause_match import clause_agreement
from calibclip.evaluation.rewriter_eval import rewriter_scores
from calibclip.types import Clauses


def is_fallback(clauses: Clauses) -> bool:
    """True when an LLM rewriter answered with its fallback (flagged in ``extra``)."""
    return "fallback" in clauses.extra


def same_line(a: Clauses, b: Clauses) -> bool:
    """Whether two decompositions write the same TIGR line."""
    return " ".join(format_tigr_text(a).split()) == " ".join(format_tigr_text(b).split())


def llm_scores(predicted: Sequence[Clauses], gold: Sequence[Clauses], lang: str | None = None,
               model_only: bool = False) -> dict:
    """Clause scores (all of ``rewriter_scores`` when ``lang`` is given), exact-line accuracy and parse rate."""
    parsed = 100.0 * sum(not is_fallback(p) for p in predicted) / max(1, len(predicted))
    if model_only:
        predicted = [Clauses(raw=p.raw, optimized="") if is_fallback(p) else p for p in predicted]
    out = rewriter_scores(predicted, gold, lang) if lang else clause_agreement(predicted, gold)
    out["exact"] = 100.0 * sum(same_line(p, g) for p, g in zip(predicted, gold)) / max(1, len(gold))
    out["parsed"] = parsed
    return out
