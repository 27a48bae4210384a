"""How well a rewriter decomposes queries: clause F1 against gold, malformed clauses, negation inversions.

Clause matching is ``clause_match``'s: two clauses match when the F1 of their
content-token sets is ≥ 0.8, one-to-one, AND with AND and NOT with NOT.

A predicted clause is **malformed** when one of these checkable rules fires
(``malformed_reasons``):

* ``dangling``: it ends in a word that needs a continuation: an article,
  conjunction, possessive, auxiliary or attribute verb or a preposition
  ("a young man has", "the woman dressed", "a man wearing"; not the
  particles on/up/off/out/down: "with a hat on"). Chinese: it ends in
  的/和/与/及/或/在/是/有/把/被/给/从/向/往/对, or in a verb that takes an object
  (穿/戴/拿/背/…, also with 着/了: "一个女人穿着").
* ``pronoun``: it keeps a subject pronoun the rewriter did not resolve
  (he/she/they/we/I/you; 他/她/它, not 其他).
* ``empty head``: no content word is left once function words, colours,
  pronouns and the dangling words are removed ("red", "with her").
* ``cross-sentence``: it holds sentence punctuation, or the last word of one
  sentence of the query right before the first word of the next
  ("this lady wears green sneakers She").
* ``photo frame`` (Chinese): it ends in a frame word (照片/图片/画面/图像), not an object.

A **negation inversion** is a gold NOT clause whose key is in a predicted AND
clause and in no predicted NOT clause, or a gold AND clause whose key is in a
predicted NOT clause and in no predicted AND clause. The key is the clause's
last content word in English ("a person wearing a hat" → hat); in Chinese the
last two content characters before its final 的, or of the clause if it has none
("戴口罩的人" → 口罩, "雨伞" → 雨伞). "no one wearing a hat" → AND "an orange cat
wearing a hat" is one inversion.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

from calibclip.composite.rewriters.base import Rewriter
from calibclip.composite.rewriters.sentences import split_sentences
from calibclip.errors import CorruptData, DatasetLayoutError
from calibclip.evaluation.clause_match import clause_agreement, content_tokens, token_list
from calibclip.types import Clauses

RULES = ("dangling", "pronoun", "empty head", "cross-sentence", "photo frame")
_EN_DANGLING = frozenset(
    "a an the this that these those and or but nor with without of to in into from for at by as is are was were "
    "be been being has have had wears wear wearing dressed put puts carrying holding his her their its my your "
    "our who which whose while whilst".split())
_EN_PRONOUNS = frozenset("he she they we i you".split())
_EN_EMPTY = _EN_DANGLING | _EN_PRONOUNS | frozenset(
    "red blue green black white yellow orange purple pink brown grey gray gold golden silver beige dark light "
    "some any one two three many several".split())
_ZH_DANGLING = re.compile(r"(?:[的和与及或在是有把被给从向往对]|[穿戴拿背提牵抱推拉打挎扎留握举撑挂系披][着了]?)$")
_ZH_PRONOUN = re.compile(r"(?<!其)[他她它]")
_ZH_EMPTY = frozenset("也还都就很又并且而但这那该此其个位名只色红蓝绿黑白黄橙紫粉棕灰金")
_ZH_FRAME = re.compile(r"(?:照片|图片|画面|图像)$")
_SENTENCE_MARK = re.compile(r"[.!?;。！？；]")
_EN_WORD = re.compile(r"[\w'-]+")


def _boundaries(raw: str, lang: str) -> list[str]:
    """What straddles each sentence boundary of ``raw``: "sneakers she" (en) or "鞋她" (zh)."""
    sentences = split_sentences(raw, lang)
    if lang == "zh":
        return [a[-1] + b[0] for a, b in zip(sentences, sentences[1:])]
    words = [_EN_WORD.findall(s.lower()) for s in sentences]
    return [f"{a[-1]} {b[0]}" for a, b in zip(words, words[1:]) if a and b]


def malformed_reasons(clause: str, raw: str, lang: str = "en") -> list[str]:
    """The malformed-clause rules (``RULES``) that ``clause`` breaks, given the query ``raw`` it came from."""
    reasons = []
    zh = lang == "zh" or any("\u4e00" <= ch <= "\u9fff" for ch in clause)
    text = clause.strip()
    words = _EN_WORD.findall(text.lower())
    if (_ZH_DANGLING.search(text) if zh else (not words or words[-1] in _EN_DANGLING)):
        reasons.append("dangling")
    if _ZH_PRONOUN.search(text) if zh else _EN_PRONOUNS & set(words):
        reasons.append("pronoun")
    tokens = [t for t in token_list(text) if t not in (_ZH_EMPTY if zh else _EN_EMPTY)]
    if not tokens:
        reasons.append("empty head")
    joined = text if zh else f" {' '.join(words)} "
    pairs = _boundaries(raw, "zh" if zh else "en")
    if _SENTENCE_MARK.search(text) or any((p if zh else f" {p} ") in joined for p in pairs):
        reasons.append("cross-sentence")
    if zh and _ZH_FRAME.search(text):
        reasons.append("photo frame")
    return reasons


def _key(clause: str, lang: str) -> frozenset[str]:
    if lang == "zh":
        before, _, after = clause.rpartition("的")
        return frozenset(token_list(before or after)[-2:])
    return frozenset(token_list(clause)[-1:])


def inversions(predicted: Clauses, gold: Clauses, lang: str = "en") -> int:
    """Negation inversions of one decomposition (see the module doc)."""
    pred_and = [content_tokens(c) for c in predicted.and_clauses]
    pred_not = [content_tokens(c) for c in predicted.not_clauses]
    count = 0
    for clauses, wrong, right in ((gold.not_clauses, pred_and, pred_not), (gold.and_clauses, pred_not, pred_and)):
        for clause in clauses:
            key = _key(clause, lang)
            count += bool(key) and any(key <= t for t in wrong) and not any(key <= t for t in right)
    return count


def rewriter_scores(predicted: Sequence[Clauses], gold: Sequence[Clauses], lang: str = "en") -> dict:
    """Clause P/R/F1 (``clause_agreement``; NOT-P/R/F1 None when no side has a NOT clause), malformed
    clauses (percent of predicted clauses, and of queries with at least one), the count of each rule,
    and negation inversions."""
    scores = clause_agreement(predicted, gold)
    if not any(c.not_clauses for c in (*predicted, *gold)):
        scores.update({"NOT-P": None, "NOT-R": None, "NOT-F1": None})     # nothing to measure
    counts = dict.fromkeys(RULES, 0)
    bad = bad_queries = clauses = 0
    for p in predicted:
        found = [malformed_reasons(c, p.raw, lang) for c in (*p.and_clauses, *p.not_clauses)]
        clauses += len(found)
        bad += sum(bool(r) for r in found)
        bad_queries += any(found)
        for reasons in found:
            for reason in reasons:
                counts[reason] += 1
    scores.update({"clauses": clauses, "malformed": 100.0 * bad / clauses if clauses else 0.0,
                   "malformed queries": 100.0 * bad_queries / len(predicted) if predicted else 0.0,
                   "inversions": sum(inversions(p, g, lang) for p, g in zip(predicted, gold)),
                   **{f"rule: {k}": v for k, v in counts.items()}})
    return scores


def evaluate_rewriter(rewriter: Rewriter, gold: Sequence[Clauses], lang: str = "en") -> dict:
    """Rewrite every gold query's raw text with ``rewriter`` and score it against the gold decomposition."""
    predicted = rewriter.rewrite_many([g.raw for g in gold], lang)
    return rewriter_scores(predicted, gold, lang)


def read_gold_jsonl(path: str | Path, lang: str, kind: str | None = None, split: str | None = None) -> list[Clauses]:
    """Hand-made gold decompositions, one ``{"lang", "kind", "split", "query", "and": [..], "not": [..]}``
    per line; ``kind`` and ``split`` (None: all) filter them."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"no gold file at {path}", "pass a jsonl of hand-made gold decompositions")
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if row["lang"] == lang and kind in (None, row["kind"]) and split in (None, row["split"]):
                out.append(Clauses(raw=row["query"], optimized=row["query"], and_clauses=tuple(row["and"]),
                                   not_clauses=tuple(row["not"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptData(f"{path}:{number}: not a gold line ({exc})",
                              'expected {"lang", "kind", "split", "query", "and": [...], "not": [...]}') from exc
    return out


def gold_sets(tigr_seed: int, tigr_queries: int, pedes_root: str | Path | None = None,
              handwritten: str | Path | None = None) -> dict[tuple[str, str], list[Clauses]]:
    """The gold sets of the rewriter table, by (set name, language).

    Fresh synthetic TIGR queries (``sample_query_clauses``, en and zh), the
    captions of a generated person set (``pedes_gold``; English only: the person
    generator writes no Chinese), and the hand-written person descriptions and
    web queries of ``handwritten`` (``read_gold_jsonl``), by kind, then its
    held-out half alone (the lines the rules were never checked against).
    """
    from calibclip.datasets.pedes_gold import pedes_gold
    from calibclip.datasets.synthetic_tigr import sample_query_clauses

    sets = {(f"TIGR seed {tigr_seed}", lang): sample_query_clauses(tigr_seed, tigr_queries, lang)
            for lang in ("en", "zh")}
    if pedes_root is not None:
        sets[("person captions", "en")] = pedes_gold(pedes_root)
    for lang in ("en", "zh") if handwritten is not None else ():
        for kind in ("person", "web"):
            sets[(f"hand-written {kind}", lang)] = read_gold_jsonl(handwritten, lang, kind)
        sets[("hand-written held-out", lang)] = read_gold_jsonl(handwritten, lang, split="heldout")
    return sets


def rewriter_table(rewriter: Rewriter, sets: dict[tuple[str, str], list[Clauses]]) -> list[dict]:
    """One row of ``rewriter_scores`` per gold set, with its name and language."""
    return [{"set": name, "lang": lang, **evaluate_rewriter(rewriter, gold, lang)}
            for (name, lang), gold in sets.items() if gold]
