"""The TIGR-100k ``text`` line: parse it into ``Clauses`` and write it back.

Line layout (CsdCLIP README, TIGR-100k jsonl)::

    raw | Time: .., place: .., person: .. | Search intention: .. |
    Phrase, word expression optimization: .. |
    Multi-agent logical relationship analysis: -AND: < a, b >, -NOT: < c >

Chinese records may use Chinese labels and punctuation (，、｜：《》); both
are accepted. Never feed the whole line to a text encoder: parse it first.
"""
from __future__ import annotations

import re

from calibclip.errors import CorruptData
from calibclip.types import Clauses

_SEP = re.compile(r"\s*[|｜]\s*")
_LIST_SPLIT = re.compile(r"\s*[,，、;；]\s*")
_AND = re.compile(r"-?\s*AND\s*[:：]\s*[<《]([^>》]*)[>》]", re.IGNORECASE)
_NOT = re.compile(r"-?\s*NOT\s*[:：]\s*[<《]([^>》]*)[>》]", re.IGNORECASE)
_TPP = re.compile(r"(?:time|时间)\s*[:：]\s*(.*?)\s*[,，]\s*(?:place|地点)\s*[:：]\s*(.*?)\s*[,，]\s*"
                  r"(?:person|人物)\s*[:：]\s*(.*)$", re.IGNORECASE)
_LABELS = {
    "intention": re.compile(r"^(?:search intention|搜索意图)\s*[:：]\s*(.*)$", re.IGNORECASE),
    "optimized": re.compile(r"^(?:phrase,? word expression optimization|短语.*?优化)\s*[:：]\s*(.*)$",
                            re.IGNORECASE),
    "analysis": re.compile(r"^(?:multi-agent logical relationship analysis|多智能体.*?分析)\s*[:：]\s*(.*)$",
                           re.IGNORECASE),
}


def _split_list(body: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in _LIST_SPLIT.split(body.strip()) if part.strip()
                 and part.strip().lower() not in {"none", "无"})


def parse_analysis(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Extract the AND and NOT clause lists from ``-AND: < .. >, -NOT: < .. >``."""
    and_match, not_match = _AND.search(text), _NOT.search(text)
    return (_split_list(and_match.group(1)) if and_match else (),
            _split_list(not_match.group(1)) if not_match else ())


def parse_tigr_text(line: str) -> Clauses:
    """Parse a TIGR ``text`` line. A line without ``|`` is a bare query."""
    line = line.strip()
    if not line:
        raise CorruptData("empty TIGR text line")
    segments = _SEP.split(line)
    raw = segments[0].strip()
    fields = {"optimized": raw, "intention": "complex", "time": "none", "place": "none", "person": "none"}
    and_clauses: tuple[str, ...] = ()
    not_clauses: tuple[str, ...] = ()
    for segment in segments[1:]:
        tpp = _TPP.match(segment)
        if tpp:
            fields["time"], fields["place"], fields["person"] = (g.strip() for g in tpp.groups())
            continue
        for key, pattern in _LABELS.items():
            match = pattern.match(segment)
            if not match:
                continue
            if key == "analysis":
                and_clauses, not_clauses = parse_analysis(match.group(1))
            else:
                fields[key] = match.group(1).strip() or fields[key]
            break
    return Clauses(raw=raw, optimized=fields["optimized"], and_clauses=and_clauses,
                   not_clauses=not_clauses, time=fields["time"], place=fields["place"],
                   person=fields["person"], intention=fields["intention"])


def format_tigr_text(clauses: Clauses) -> str:
    """Write ``clauses`` as a TIGR ``text`` line (English labels, the published layout)."""
    return (f"{clauses.raw} | Time: {clauses.time}, place: {clauses.place}, person: {clauses.person} | "
            f"Search intention: {clauses.intention} | "
            f"Phrase, word expression optimization: {clauses.optimized} | "
            f"Multi-agent logical relationship analysis: -AND: < {', '.join(clauses.and_clauses)} >, "
            f"-NOT: < {', '.join(clauses.not_clauses)} >")
