"""Chinese rules for the ``rule`` rewriter.

Negation cues (不/没有/无/除了/未, and 没穿/不戴-style verb forms) open a
negated span that runs to the next punctuation; its items become NOT clauses.
The rest is cut on punctuation and conjunctions (并且/同时/以及/而且/，/；).
A segment is read as ``[quantifier][attributes 的][head][在 place][action]``:
every attribute, place and action becomes a clause that keeps the subject
("一个穿着绿色裙子的女人在市政厅前跳舞" → 一个穿着绿色裙子的女人, 一个女人在市政厅前,
一个女人跳舞); a later segment without its own subject borrows it.
"""
from __future__ import annotations

import re

from calibclip.composite.rewriters.rule import cut_negated
from calibclip.types import Clauses

GENERIC_QUERY = "一张照片"

_NEG = re.compile(r"(?:除了|没有穿|没有戴|没有带|没有拿|没穿|没戴|没带|不穿|不戴|不带|不拿|不要|不含|不是|没有|没|无|未|不)"
                  r"(?!同|锈|人机|来|线|久|错|少|论)")
_SPAN_END = re.compile(r"[，,。；;！!？?]|但是|但|而是|同时|并且")
_LIST = re.compile(r"[、，,]|或者|以及|和|或|及|与")
_NOT_LEAD = re.compile(r"^(?:穿着|戴着|带着|拿着|穿|戴|带|拿|打|有|任何)+")
_NOT_TAIL = re.compile(r"(?:以外|之外|的东西)$")
_SEGMENTS = re.compile(r"[，,；;。！!？?]|并且|而且|同时|以及|并")
_QUANT = re.compile(r"^[一二两三四五六七八九十几这那每][个位只条辆件把张名群对头匹座栋艘架]")
_PRONOUN = re.compile(r"^(?:他们|她们|他|她|它)")
_LOCATIVE = "(?:旁边|左边|右边|前面|后面|身边|身后|身旁|附近|周围)"
_LOCATIVE_START = re.compile(f"^{_LOCATIVE}")
_EXISTS = re.compile(f"^((?:他们|她们|他|她|它)?{_LOCATIVE}?)有(.+)$")
_TIME = re.compile(r"^(?:夜晚|晚上|夜里|白天|早上|清晨|傍晚|黄昏|中午|雨天|雪天)$")
_LOCATIVE_ONLY = re.compile(f"[，,；;]?\\s*{_LOCATIVE}$")
_MARKER = re.compile(r"正在|位于|[站坐躺走停住睡]?在")
_PLACE = re.compile(r"^([站坐躺走停住睡]?在.+?(?:前面|后面|旁边|里面|上面|下面|附近|对面|中间|前|后|里|上|下|旁|边|中|外))(.*)$")
_VERBS = "穿戴拿背提牵骑站坐躺走跑跳看抱推拉吃喝玩开弹唱读写踢打正"
_VERB_START = re.compile(f"^[{_VERBS}]")
_VERB = re.compile(f"[{_VERBS}]")
_ATTR_SPLIT = re.compile(r"、|和(?=[穿戴拿背提牵有])")


def _tidy(text: str) -> str:
    text = re.sub(r"([，,；;、])(?:\s*[，,；;、])+", r"\1", text.strip())
    return re.sub(r"^[，,；;、。\s]+|[，,；;、。\s和并且同时]+$", "", text)


def split_negations_zh(text: str) -> tuple[str, tuple[str, ...]]:
    """Cut negated spans → (positive text, NOT clauses)."""
    positive, spans = cut_negated(text, _NEG, _SPAN_END, _LOCATIVE_ONLY)
    nots: list[str] = []
    for part in (p for span in spans for p in _LIST.split(span)):
        part = _NOT_TAIL.sub("", _NOT_LEAD.sub("", part.strip()))
        if part and part not in nots:
            nots.append(part)
    return _tidy("".join(positive)), tuple(nots)


def _subject_clauses(subject: str) -> tuple[list[str], str, str]:
    """``一个穿着绿色裙子的女人牵着狗`` → (attribute clauses, short subject ``一个女人``, rest ``牵着狗``)."""
    quant_match = _QUANT.match(subject)
    quant = quant_match.group(0) if quant_match else ""
    attrs, _, head = subject[len(quant):].rpartition("的")
    verb = _VERB.search(head, 1)
    head, rest = (head[:verb.start()], head[verb.start():]) if verb else (head, "")
    short = quant + head
    return [f"{quant}{a}的{head}" for a in _ATTR_SPLIT.split(attrs) if a], short, rest


def _head(subject: str) -> str:
    quant = _QUANT.match(subject)
    return subject[quant.end():] if quant else subject


def _existential(segment: str, subject: str) -> str | None:
    """"旁边有一辆黄色汽车" → "一辆黄色汽车"; "他左边有一只狗" → "男人左边的狗" (the object is its own clause)."""
    match = _EXISTS.match(segment)
    if not match:
        return None
    where, thing = match.groups()
    if not _PRONOUN.match(where):
        return thing
    quant = _QUANT.match(thing)
    return f"{_PRONOUN.sub(_head(subject), where)}的{thing[quant.end():] if quant else thing}"


def _segment_clauses(segment: str, subject: str | None) -> tuple[list[str], str | None]:
    """Clauses of one segment and the subject later segments may borrow."""
    found = _existential(segment, subject) if subject else None
    if found:
        return [found], subject
    if subject and _PRONOUN.match(segment):
        return [_PRONOUN.sub(_head(subject), segment)], subject
    if subject and not _QUANT.match(segment) and (_VERB_START.match(segment) or _LOCATIVE_START.match(segment)):
        return [subject + segment], subject
    marker = _MARKER.search(segment)
    own = segment[:marker.start()] if marker else segment
    rest = segment[marker.start():] if marker else ""
    if not own:
        return [segment], subject
    clauses, short, verb_rest = _subject_clauses(own)
    rest = verb_rest + rest
    place = _PLACE.match(rest)
    if place and not rest.startswith("正在"):
        clauses.append(short + place.group(1))
        rest = place.group(2)
    if rest:
        clauses.append(short + rest)
    return clauses or [short], short


def decompose_zh(text: str) -> list[str]:
    """Split a positive Chinese query into AND clauses that keep their subject."""
    clauses: list[str] = []
    subject, times = None, []
    for segment in _SEGMENTS.split(text):
        segment = _tidy(segment)
        if _TIME.match(segment):
            times.append(segment)                       # "夜晚，一个男人…" → "夜晚的男人"
        elif segment:
            found, subject = _segment_clauses(segment, subject)
            clauses.extend(c for c in found if c not in clauses)
    clauses.extend(f"{t}的{_head(subject)}" if subject else t for t in times)
    return clauses


def rewrite_zh(query: str) -> Clauses:
    """Decompose a Chinese query (``query`` already validated)."""
    positive, nots = split_negations_zh(query)
    return Clauses(raw=query, optimized=positive or GENERIC_QUERY,
                   and_clauses=tuple(decompose_zh(positive)) if positive else (), not_clauses=nots)
