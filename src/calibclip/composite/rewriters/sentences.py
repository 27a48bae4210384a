"""Sentence splitting for the ``rule`` rewriter (English and Chinese).

English sentences end at ``. ! ? ;`` followed by a space or the end of the
text, and at line breaks; a period after a known abbreviation ("Mr.", "e.g.",
"St.") or a single capital initial ("J.") does not end a sentence, and a
period inside a number ("3.5") never does. Chinese sentences end at
``。！？；`` (and their ASCII forms) and at line breaks.

Example:
    >>> split_sentences("Mr. Lee wears a cap. He has a dog; no cats!")
    ['Mr. Lee wears a cap', 'He has a dog', 'no cats']
"""
from __future__ import annotations

import re

_EN_BREAK = re.compile(r"[.!?;]+(?=\s|$)|\s*\n\s*")
_ZH_BREAK = re.compile(r"[。！？；!?;]+|\s*\n\s*")
_LAST_WORD = re.compile(r"(\S+)$")
ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr prof mt ft vs e.g i.e a.m p.m u.s u.k approx".split())


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the single period at ``dot`` closes an abbreviation or an initial."""
    word = _LAST_WORD.search(text, 0, dot)
    if not word:
        return False
    token = word.group(1).strip("(\"'")
    return token.lower() in ABBREVIATIONS or (len(token) == 1 and token.isupper())


def _split_en(text: str) -> list[str]:
    parts, start = [], 0
    for found in _EN_BREAK.finditer(text):
        if found.group() == "." and _is_abbreviation(text, found.start()):
            continue
        parts.append(text[start:found.start()])
        start = found.end()
    parts.append(text[start:])
    return parts


def split_sentences(text: str, lang: str = "en") -> list[str]:
    """The non-empty sentences of ``text`` without their final punctuation (``lang``: "en" or "zh")."""
    parts = _ZH_BREAK.split(text) if lang == "zh" else _split_en(text)
    return [part.strip() for part in parts if part.strip()]
