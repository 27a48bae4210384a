"""``rule``: the offline rewriter (English here and in ``rule_en``, Chinese in ``rule_zh``).

The query is split into sentences (``sentences``); each is handled on its own,
in the two steps CsdCLIP's decomposition asks for (README "composite search"):

1. Negation: a cue (no, not, without, except, "not wearing", "isn't",
   "there are no", ...) opens a negated span that runs to the next comma,
   sentence end, clause break or ``-ing`` verb ("without a hat walking a dog":
   the dog walking stays positive); the span becomes NOT clauses (split on
   and/or) and is cut from the sentence. "no one" / "nobody" negate a person:
   "no one wearing a hat" → NOT "a person wearing a hat". A negated phrase
   never reaches the AND side.
2. Decomposition of what is left (``rule_en``): every AND clause keeps its
   subject, and later sentences carry the caption's subject ("This lady ...
   She wears green sneakers" → "a lady wearing green sneakers").

The optimized query is the positive sentences joined with ". ". A query that
is only a negation ("no dogs") gets the optimized query "a photo" and no AND
clause, so composite scoring ranks by the NOT penalty.
"""
from __future__ import annotations

import re

from calibclip.composite.rewriters.base import Rewriter, check_query
from calibclip.composite.rewriters.rule_en import (ING_NOUNS, WORD, clause_text, decompose, opens_phrase,
                                                   resolve)
from calibclip.composite.rewriters.sentences import split_sentences
from calibclip.types import Clauses

GENERIC_QUERY = {"en": "a photo", "zh": "一张照片"}

_NOBODY = re.compile(r"\b(?:(?:with|and|but|there\s+(?:is|are|was|were)|there's)\s+)?(?:no[\s-]?one|nobody|"
                     r"no\s+person|not\s+(?:anyone|anybody|a\s+(?:single\s+)?person))(?:\s+else)?\b\s*",
                     re.IGNORECASE)
_NEG_CUE = re.compile(
    r"\b(?:(?:(?:and|but)\s+)?there(?:\s+(?:is|are|was|were)|'s)\s+no|(?:with|and|but|having|has|have)\s+no|"
    r"without|except(?:\s+for)?|excluding|not\s+(?:wearing|holding|carrying|having|with)|"
    r"(?:does|do|did|is|are|was|were|has|have)n't(?:\s+(?:have|got))?|"
    r"(?:does|do|did|is|are|was|were|has|have)\s+not(?:\s+(?:have|got))?|not|no|never)\b(?!\s+one\b)\s*",
    re.IGNORECASE)
_SPAN_END = re.compile(r"[,;.!?]|\b(?:but|while|whilst|who|which|yet)\b|"
                       r"\band\s+(?=\w+ing\b|with\b|wearing\b|holding\b|(?:he|she|they|it|i|we)\b)", re.IGNORECASE)
# an object span also ends before an -ing verb ("without a hat walking a dog"), not after a determiner
_OBJECT_END = re.compile(_SPAN_END.pattern + r"|(?<!\ba)(?<!\ban)(?<!\bthe)(?<!\bhis)(?<!\bher)(?<!\btheir)"
                         r"\s+(?=(?!(?:" + "|".join(sorted(ING_NOUNS)) + r")\b)[a-z]{2,}ing\b)", re.IGNORECASE)
_LIST_SPLIT = re.compile(r"\s*(?:,|\b(?:and|or|nor)\b)\s*", re.IGNORECASE)
_NOT_LEAD = re.compile(r"^(?:(?:wearing|holding|carrying|having|have|has|with|without|no|not|any)\s+)+",
                       re.IGNORECASE)
_NOT_TAIL = re.compile(r"\s+(?:around|nearby|anywhere|at all|in sight|visible)$", re.IGNORECASE)
PERSON = "a person"


def cut_negated(text: str, cue: re.Pattern, end: re.Pattern,
                lead: re.Pattern | None = None) -> tuple[list[str], list[str]]:
    """Split ``text`` into the pieces outside negated spans and the spans (cue removed).

    A span runs from a ``cue`` match to the next ``end`` match; ``lead``, when
    it matches right before the cue, is cut with it ("附近无汽车"). A cue with
    nothing after it gives an empty span.
    """
    positive, spans, pos = [], [], 0
    while (found := cue.search(text, pos)) is not None:
        stop_match = end.search(text, found.end())
        stop = stop_match.start() if stop_match else len(text)
        before = lead.search(text, pos, found.start()) if lead else None
        positive.append(text[pos:before.start() if before else found.start()])
        spans.append(text[found.end():stop].strip())
        pos = stop
    positive.append(text[pos:])
    return positive, spans


def split_negations(text: str) -> tuple[str, list[str], list[str]]:
    """Cut negated spans out of one sentence → (positive text, negated object spans, "no one" spans).

    Spans come without their cue: "a cat, no dogs, no one on the sofa" →
    ("a cat", ["dogs"], ["on the sofa"]).
    """
    pieces, nobody = cut_negated(text, _NOBODY, _SPAN_END)
    positive: list[str] = []
    spans: list[str] = []
    for piece in pieces:
        kept, cut = cut_negated(piece, _NEG_CUE, _OBJECT_END)
        positive.extend(kept)
        spans.extend(s for s in cut if s)
    return tidy(" ".join(positive)), spans, nobody


def tidy(text: str) -> str:
    """Collapse whitespace and dangling separators left by removed spans."""
    text = re.sub(r"\s+([,;.])", r"\1", " ".join(text.split()))
    text = re.sub(r"([,;])(?:\s*[,;])+", r"\1", text)
    text = re.sub(r"^(?:[,;.\s]|and\b|with\b)+", "", text, flags=re.IGNORECASE)
    return re.sub(r"(?:[,;\s]|\b(?:and|with|but|while|who|that|which|is|are)\b)+$", "", text,
                  flags=re.IGNORECASE).strip()


def not_clauses(spans: list[str]) -> list[str]:
    """NOT clauses from negated spans: split lists, drop verbs like 'wearing' and 'any'."""
    out = []
    for span in spans:
        for part in _LIST_SPLIT.split(span):
            part = _NOT_TAIL.sub("", _NOT_LEAD.sub("", part.strip(" ."))).strip()
            if part and part.lower() not in {o.lower() for o in out}:
                out.append(part)
    return out


def nobody_clauses(spans: list[str]) -> list[str]:
    """NOT clauses of "no one" spans: "wearing a hat or a scarf" → "a person wearing a hat", "... a scarf".

    A listed item without its own verb or preposition borrows the first item's.
    """
    out = []
    for span in spans:
        parts = [_NOT_TAIL.sub("", p.strip(" .")) for p in _LIST_SPLIT.split(span)]
        first = WORD.findall(parts[0])
        lead = first[0] if first and opens_phrase(first, 0) else ""
        for k, part in enumerate(parts):
            words = WORD.findall(part)
            if k and words and lead and not opens_phrase(words, 0):
                words = [lead, *words]
            if k == 0 or words:
                out.append(" ".join([PERSON, *words]))
    return out


def rewrite_en(query: str) -> Clauses:
    """Decompose an English query sentence by sentence, carrying the first sentence's subject."""
    subject: list[str] | None = None
    positives: list[str] = []
    ands: list[str] = []
    nots: list[str] = []
    for sentence in split_sentences(query, "en"):
        positive, spans, nobody = split_negations(sentence)
        nots += not_clauses(spans) + nobody_clauses(nobody)
        if not positive:
            continue
        clauses, first = decompose(" ".join(resolve(WORD.findall(positive), subject)), subject)
        if subject is None and first:
            subject = clause_text(first).split()
        elif subject is not None:          # "He doesn't have a bag." adds no bare "a man"
            clauses = [c for c in clauses if c.lower() != " ".join(subject).lower()]
        if clauses:
            positives.append(positive)
            ands += clauses
    ands = list(dict.fromkeys(ands))
    if subject and len(ands) > 1:          # "A woman. She wears a cap.": the bare subject adds nothing
        bare = " ".join(subject).lower()
        ands = [c for c in ands if c.lower() != bare or not any(o.lower().startswith(bare + " ") for o in ands)]
    return Clauses(raw=query, optimized=". ".join(positives) or GENERIC_QUERY["en"],
                   and_clauses=tuple(ands), not_clauses=tuple(dict.fromkeys(nots)))


class RuleRewriter(Rewriter):
    """Offline, deterministic decomposition; the Chinese rules apply to any text with Han characters.

    The language follows the text, not ``lang``: an English query in a Chinese
    run is still split with the English rules.
    """

    name = "rule"

    def rewrite(self, query: str, lang: str = "en") -> Clauses:
        query = check_query(query, lang)
        if any("\u4e00" <= ch <= "\u9fff" for ch in query):
            from calibclip.composite.rewriters.rule_zh import rewrite_zh

            return rewrite_zh(query)
        return rewrite_en(query)
