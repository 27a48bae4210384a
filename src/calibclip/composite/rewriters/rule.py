"""``rule``: the offline rewriter (English here, Chinese in ``rule_zh``).

Two steps, as CsdCLIP's decomposition asks (README "composite search"):

1. Negation: a cue (no, not, without, except, "not wearing", "with no", ...)
   opens a negated span that runs to the next comma or clause break; the span
   becomes NOT clauses (split on and/or) and is cut from the query, which
   leaves the optimized query.
2. Conjunction and attribute splitting: the optimized query is cut before
   prepositions, ``with``/``wearing``-style attributes, ``-ing`` verbs,
   relative pronouns and ``and``/commas; every piece keeps its subject:
   "a woman in a green dress dancing" → "a woman in a green dress",
   "a woman dancing".

A query that is only a negation ("no dogs") gets the optimized query
"a photo" and no AND clause, so composite scoring ranks by the NOT penalty.
"""
from __future__ import annotations

import re

from calibclip.composite.rewriters.base import Rewriter, check_query
from calibclip.types import Clauses

GENERIC_QUERY = {"en": "a photo", "zh": "一张照片"}

_NEG_CUE = re.compile(
    r"\b(?:(?:with|and|but|having|has|have)\s+no|without|except(?:\s+for)?|excluding|"
    r"not\s+(?:wearing|holding|carrying|having|with)|(?:does|do|is|are)n't(?:\s+have)?|"
    r"(?:does|do|is|are)\s+not(?:\s+have)?|not|no)\b(?!\s+one\b)", re.IGNORECASE)
_SPAN_END = re.compile(r"[,;.!?]|\b(?:but|while|whilst|who|which|yet)\b|"
                       r"\band\s+(?=\w+ing\b|with\b|wearing\b|holding\b)", re.IGNORECASE)
_LIST_SPLIT = re.compile(r"\s*(?:,|\b(?:and|or|nor)\b)\s*", re.IGNORECASE)
_NOT_LEAD = re.compile(r"^(?:(?:wearing|holding|carrying|having|have|has|with|without|no|not|any)\s+)+",
                       re.IGNORECASE)
_NOT_TAIL = re.compile(r"\s+(?:around|nearby|anywhere|at all|in sight|visible)$", re.IGNORECASE)
_WORD = re.compile(r"[\w'-]+|[,;]")

PREPOSITIONS = frozenset(
    "in on at near by under beside behind inside outside above below next across along around through "
    "against among between over into onto toward towards beneath underneath".split())
PRONOUNS = frozenset("his her their its".split())
POSSESSIVE_VERBS = frozenset("with wearing holding carrying having has wears holds carries dressed".split())
RELATIVES = frozenset("who that which while whilst where".split())
_NEW_SUBJECT = frozenset("while whilst where".split())
COPULAS = frozenset("is are was were be being".split())
DETERMINERS = frozenset(
    "a an the this these those his her their its my our your some two three four five six several "
    "many one another".split())
COLOURS = frozenset(
    "red blue green black white yellow orange purple pink brown grey gray gold silver beige dark light "
    "striped long short".split())
_ING_NOUNS = frozenset(
    "building clothing ring king thing evening morning ceiling wedding spring string swing painting "
    "nothing something anything everything sibling pudding stocking railing awning parking ping".split())


def cut_negated(text: str, cue: re.Pattern, end: re.Pattern,
                lead: re.Pattern | None = None) -> tuple[list[str], list[str]]:
    """Split ``text`` into the pieces outside negated spans and the spans (cue removed).

    A span runs from a ``cue`` match to the next ``end`` match; ``lead``, when
    it matches right before the cue, is cut with it ("附近无汽车").
    """
    positive, spans, pos = [], [], 0
    for found in cue.finditer(text):
        if found.start() < pos:
            continue
        stop_match = end.search(text, found.end())
        stop = stop_match.start() if stop_match else len(text)
        before = lead.search(text, pos, found.start()) if lead else None
        positive.append(text[pos:before.start() if before else found.start()])
        spans.append(text[found.end():stop].strip())
        pos = stop
    positive.append(text[pos:])
    return positive, [s for s in spans if s]


def split_negations(text: str) -> tuple[str, list[str]]:
    """Cut negated spans out of ``text`` → (positive text, negated spans without their cue)."""
    positive, spans = cut_negated(text, _NEG_CUE, _SPAN_END)
    return tidy(" ".join(positive)), spans


def tidy(text: str) -> str:
    """Collapse whitespace and dangling separators left by removed spans."""
    text = re.sub(r"\s+([,;.])", r"\1", " ".join(text.split()))
    text = re.sub(r"([,;])(?:\s*[,;])+", r"\1", text)
    text = re.sub(r"^(?:[,;.\s]|and\b|with\b)+", "", text, flags=re.IGNORECASE)
    return re.sub(r"(?:[,;\s]|\b(?:and|with|but|while|who|that|which|is|are)\b)+$", "", text,
                  flags=re.IGNORECASE).strip()


def not_clauses(spans: list[str]) -> tuple[str, ...]:
    """NOT clauses from negated spans: split lists, drop verbs like 'wearing' and 'any'."""
    out = []
    for span in spans:
        for part in _LIST_SPLIT.split(span):
            part = _NOT_TAIL.sub("", _NOT_LEAD.sub("", part.strip(" ."))).strip()
            if part and part.lower() not in out:
                out.append(part)
    return tuple(out)


def _is_verb_ing(words: list[str], i: int) -> bool:
    word = words[i].lower()
    if len(word) <= 4 or not word.endswith("ing") or word in _ING_NOUNS:
        return False
    return i == 0 or words[i - 1].lower() not in DETERMINERS


def _opens_phrase(words: list[str], i: int) -> bool:
    word = words[i].lower()
    if word in PREPOSITIONS and i + 1 < len(words) and words[i + 1].lower() in PRONOUNS:
        return False  # "a dog on his left", "a cup in her hand": the place belongs to the object before
    return word in PREPOSITIONS or word in POSSESSIVE_VERBS or _is_verb_ing(words, i)


class _Builder:
    """Accumulates subjects and their phrases while walking the words."""

    def __init__(self) -> None:
        self.groups: list[tuple[list[str], list[list[str]]]] = []
        self.new_subject()

    def new_subject(self) -> None:
        self.groups.append(([], []))

    @property
    def subject(self) -> list[str]:
        return self.groups[-1][0]

    @property
    def phrases(self) -> list[list[str]]:
        return self.groups[-1][1]

    def add(self, word: str) -> None:
        (self.phrases[-1] if self.phrases else self.subject).append(word)

    def clauses(self) -> list[str]:
        out = []
        for subject, phrases in self.groups:
            if not subject and not phrases:
                continue
            pieces = [p for p in phrases if p] or [[]]
            out.extend(_sentence(subject + p) for p in pieces)
        return list(dict.fromkeys(c for c in out if c))


def _sentence(words: list[str]) -> str:
    if words and words[0].lower() in DETERMINERS:
        words = [words[0].lower(), *words[1:]]
    return " ".join(words)


def _after_and(builder: _Builder, words: list[str], i: int) -> bool:
    """Handle 'and'/',' before word ``i``; return True when it was a clause break."""
    if i >= len(words):
        return True
    nxt = words[i].lower()
    if _opens_phrase(words, i) or nxt in RELATIVES or nxt in COPULAS:
        return True
    phrase = builder.phrases[-1] if builder.phrases else []
    if phrase and phrase[0].lower() in POSSESSIVE_VERBS and phrase[-1].lower() not in COLOURS:
        builder.phrases.append([phrase[0]])       # "with a hat and a scarf" → "with a scarf"
        return True
    if nxt in DETERMINERS:
        builder.new_subject()
        return True
    return False


def decompose(text: str) -> list[str]:
    """Split a positive query into AND clauses that each keep their subject."""
    words = _WORD.findall(text)
    builder = _Builder()
    i = 0
    while i < len(words):
        word, low = words[i], words[i].lower()
        if low in {"and", ",", ";"}:
            if not _after_and(builder, words, i + 1):
                builder.add(word if low == "and" else "and")
        elif low in _NEW_SUBJECT and i + 1 < len(words) and words[i + 1].lower() in DETERMINERS:
            builder.new_subject()                  # "while their parents watch"
        elif low in RELATIVES and builder.subject:
            builder.phrases.append([])
            if i + 1 < len(words) and words[i + 1].lower() in COPULAS:
                i += 1
        elif low in COPULAS and builder.subject and not (builder.phrases and builder.phrases[-1]):
            pass                                   # "a man is sitting" → "a man sitting"
        elif builder.subject and _opens_phrase(words, i):
            builder.phrases.append([word])
        else:
            builder.add(word)
        i += 1
    return builder.clauses()


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
        positive, spans = split_negations(query)
        optimized = positive or GENERIC_QUERY["en"]
        and_clauses = tuple(decompose(positive)) if positive else ()
        return Clauses(raw=query, optimized=optimized, and_clauses=and_clauses,
                       not_clauses=not_clauses(spans))
