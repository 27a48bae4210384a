"""How close a rewriter's clauses come to gold clauses (clause precision / recall; pure Python).

Our definition (CsdCLIP publishes none): two clauses match when the F1 of
their content-token sets is at least ``threshold`` (0.8). Content tokens are
lower-cased English words, or single Han characters, minus function words
("a", "the", "in", "with", "wearing", 的, 一, 个, 有, ...), so "a woman in a
green dress" matches "a woman wearing a green dress". Each gold clause is
matched at most once (greedy, best F1 first); precision = matched / predicted,
recall = matched / gold, summed over all queries (micro average), in percent;
AND clauses are matched with AND clauses and NOT clauses with NOT clauses.
"""
from __future__ import annotations

import re
from typing import Sequence

from calibclip.types import Clauses

_EN_STOP = frozenset("a an the in on of with wearing is are at to and his her their its by".split())
_ZH_STOP = frozenset("的一个位只辆条件把张有在着了是他她它们和")
_TOKENS = re.compile(r"[\u4e00-\u9fff]|[a-z0-9]+")


def token_list(text: str) -> list[str]:
    """Lower-cased words / Han characters of ``text`` without function words, in order."""
    return [t for t in _TOKENS.findall(text.lower()) if t not in _EN_STOP and t not in _ZH_STOP]


def content_tokens(text: str) -> frozenset[str]:
    """Lower-cased words / Han characters of ``text`` without function words."""
    return frozenset(token_list(text))


def token_f1(a: str, b: str) -> float:
    """F1 of the two content-token sets (1.0 for two empty sets)."""
    ta, tb = content_tokens(a), content_tokens(b)
    if not ta and not tb:
        return 1.0
    common = len(ta & tb)
    return 0.0 if common == 0 else 2 * common / (len(ta) + len(tb))


def count_matches(predicted: Sequence[str], gold: Sequence[str], threshold: float = 0.8) -> int:
    """Greedy one-to-one matching, best pairs first; returns how many predicted clauses matched."""
    pairs = sorted(((token_f1(p, g), i, j) for i, p in enumerate(predicted) for j, g in enumerate(gold)),
                   reverse=True)
    used_p: set[int] = set()
    used_g: set[int] = set()
    for score, i, j in pairs:
        if score < threshold:
            break
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
    return len(used_p)


def _prf(prefix: str, pred_n: int, gold_n: int, hit: int) -> dict[str, float]:
    precision = 100.0 * hit / pred_n if pred_n else 0.0
    recall = 100.0 * hit / gold_n if gold_n else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {f"{prefix}P": precision, f"{prefix}R": recall, f"{prefix}F1": f1}


def clause_agreement(predicted: Sequence[Clauses], gold: Sequence[Clauses], threshold: float = 0.8) -> dict:
    """Clause precision / recall / F1 (percent) for AND clauses, NOT clauses and both (``P R F1``).

    Both: AND clauses match AND clauses and NOT clauses NOT clauses, counted together.
    Also the share of optimized queries that match.
    """
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predicted vs {len(gold)} gold decompositions; they must pair up")
    out: dict = {}
    totals = [0, 0, 0]
    for kind in ("and", "not"):
        pred_n = gold_n = hit = 0
        for p, g in zip(predicted, gold):
            pc, gc = getattr(p, f"{kind}_clauses"), getattr(g, f"{kind}_clauses")
            pred_n, gold_n = pred_n + len(pc), gold_n + len(gc)
            hit += count_matches(pc, gc, threshold)
        out.update(_prf(kind.upper() + "-", pred_n, gold_n, hit))
        totals = [totals[0] + pred_n, totals[1] + gold_n, totals[2] + hit]
    out.update(_prf("", *totals))
    same = sum(token_f1(p.optimized, g.optimized) >= threshold for p, g in zip(predicted, gold))
    out["optimized"] = 100.0 * same / len(gold) if gold else 0.0
    out["queries"] = len(gold)
    return out
