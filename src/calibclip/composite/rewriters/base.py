"""The rewriter interface: raw query → ``Clauses`` (optimized query, AND and NOT clauses).

``LLMRewriter`` holds what the language-model rewriters share: the prompt
asking for a TIGR ``text`` line (CsdCLIP README, TIGR-100k jsonl layout), the
parsing of the answer, and the fallback to the offline ``rule`` rewriter with
a logged warning when the answer cannot be parsed.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from abc import ABC, abstractmethod
from typing import Sequence

from tqdm.auto import tqdm

from calibclip.composite.clauses import parse_tigr_text
from calibclip.errors import BadQuery, ConfigError, CorruptData, RewriteError
from calibclip.types import Clauses

log = logging.getLogger(__name__)

LANGS = ("en", "zh")

# A one-shot example of our own, in the published TIGR-100k line layout.
_EXAMPLE_QUERY = "A man with a black umbrella walking a dog along the river at night, no bicycles"
_EXAMPLE_LINE = (f"{_EXAMPLE_QUERY} | Time: night, place: river, person: none | "
                 "Search intention: complex | Phrase, word expression optimization: "
                 "A man with a black umbrella walking a dog along the river at night | "
                 "Multi-agent logical relationship analysis: -AND: < a man with a black umbrella, "
                 "a man walking a dog, a man along the river, a river at night >, -NOT: < bicycles >")
_INSTRUCTION = (
    "Rewrite an image-search query for a CLIP retrieval system. Answer with ONE line in exactly this "
    "layout: the query | Time: .., place: .., person: .. | Search intention: .. | Phrase, word "
    "expression optimization: <the query without negated parts> | Multi-agent logical relationship "
    "analysis: -AND: < clauses every image must show, each keeping its subject >, -NOT: < things the "
    "image must not show >. {lang_note}\n"
)
# "one-shot": any instruction-following model; "tuned": the short prompt a LoRA adapter is trained on
# (``calibclip llm finetune``), whose answer is the rest of the TIGR line after the query.
PROMPTS = {
    "one-shot": _INSTRUCTION + "Query: {example_query}\nAnswer: {example_line}\nQuery: {query}\nAnswer:",
    "tuned": "Rewrite the image-search query as a TIGR line. {lang_note}\nQuery: {query}\nAnswer:",
}
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL)  # a reasoning model's thinking (Qwen3)
_LANG_NOTE = {"en": "Write the clauses in English.", "zh": "Write the clauses in Chinese, as the query is."}


def check_query(query: str, lang: str) -> str:
    """Validate one query and language; return the query with whitespace normalised."""
    if lang not in LANGS:
        raise BadQuery(f"unsupported query language {lang!r}", f"choose one of: {', '.join(LANGS)}")
    if not isinstance(query, str) or not query.strip():
        raise BadQuery("empty query", "type what the image should show")
    return " ".join(query.split())


class Rewriter(ABC):
    """Turns a raw query into ``Clauses``; subclasses implement ``rewrite``."""

    name: str = "base"

    @abstractmethod
    def rewrite(self, query: str, lang: str = "en") -> Clauses:
        """Decompose one query (``lang`` is "en" or "zh")."""

    def rewrite_many(self, queries: Sequence[str], lang: str = "en") -> list[Clauses]:
        """Decompose many queries (with a progress bar; LLM rewriters may batch)."""
        return [self.rewrite(q, lang) for q in tqdm(queries, desc=f"rewrite ({self.name})", leave=False, disable=None)]


def check_prompt_style(style: str) -> str:
    """Return ``style`` if it names a prompt of ``PROMPTS``, else raise ``ConfigError``."""
    if style not in PROMPTS:
        raise ConfigError(f"unknown prompt style {style!r}", f"choose one of: {', '.join(PROMPTS)}")
    return style


def build_prompt(query: str, lang: str, style: str = "one-shot") -> str:
    """The prompt asking a language model for the TIGR line of ``query`` (``style``: a key of ``PROMPTS``)."""
    return PROMPTS[check_prompt_style(style)].format(lang_note=_LANG_NOTE[lang], example_query=_EXAMPLE_QUERY,
                                 example_line=_EXAMPLE_LINE, query=query)


def parse_answer(query: str, answer: str) -> Clauses:
    """Parse a model's answer into ``Clauses`` for ``query``, or raise ``CorruptData``.

    The answer may repeat the query or start at ``Time:`` (the LoRA target is
    the rest of the line); ``<think>`` blocks are dropped, then the first line
    naming AND clauses is used. An answer without at least one AND clause is
    malformed.
    """
    lines = [ln.strip() for ln in _THINK.sub("", answer).splitlines()
             if "AND" in ln.upper() and ("<" in ln or "《" in ln)]
    if not lines:
        raise CorruptData(f"LLM answer has no '-AND: < .. >' part: {answer[:80]!r}")
    line = lines[0]
    if line.lower().startswith(("time", "时间")):
        line = f"{query} | {line}"
    parsed = parse_tigr_text(line)
    if not parsed.and_clauses:
        raise CorruptData(f"LLM answer lists no AND clause: {line[:80]!r}")
    optimized = parsed.optimized if parsed.optimized != parsed.raw else query
    return Clauses(raw=query, optimized=optimized, and_clauses=parsed.and_clauses,
                   not_clauses=parsed.not_clauses, time=parsed.time, place=parsed.place,
                   person=parsed.person, intention=parsed.intention, extra={"answer": answer})


class LLMRewriter(Rewriter):
    """A language-model rewriter: prompt → answer → ``Clauses``, or ``rule`` on a bad answer.

    A fallback is flagged in ``Clauses.extra``: ``{"fallback": "rule", "reason": .., "answer": ..}``;
    a parsed answer carries ``{"answer": ..}``.

    Args:
        fallback: the offline rewriter used when an answer cannot be parsed (default ``rule``).
        prompt: prompt style, a key of ``PROMPTS`` ("tuned" for a LoRA adapter of ``calibclip llm``).
    """

    def __init__(self, fallback: Rewriter | None = None, prompt: str = "one-shot") -> None:
        if prompt not in PROMPTS:
            raise ConfigError(f"unknown prompt style {prompt!r}", f"choose one of: {', '.join(PROMPTS)}")
        self._fallback = fallback
        self.prompt = prompt

    @abstractmethod
    def generate(self, prompts: Sequence[str]) -> list[str | RewriteError]:
        """Complete each prompt (the answer only, without the prompt); the error where none came back."""

    def rewrite(self, query: str, lang: str = "en") -> Clauses:
        return self.rewrite_many([query], lang)[0]

    def rewrite_many(self, queries: Sequence[str], lang: str = "en") -> list[Clauses]:
        queries = [check_query(q, lang) for q in queries]
        answers = self.generate([build_prompt(q, lang, self.prompt) for q in queries])
        out = [self._parse_or_fallback(q, a, lang) for q, a in zip(queries, answers)]
        failed = [c for c in out if "fallback" in c.extra]
        if failed:
            log.warning("%s rewriter: %d of %d answer(s) unusable (first: %s); falling back to the %s rewriter "
                        "for them (flagged)", self.name, len(failed), len(out), failed[0].extra["reason"],
                        self.fallback.name)
        return out

    def _parse_or_fallback(self, query: str, answer: str | RewriteError, lang: str) -> Clauses:
        try:
            if isinstance(answer, RewriteError):
                raise answer
            return parse_answer(query, answer)
        except (CorruptData, RewriteError) as exc:
            log.info("%s rewriter: %s; rule rewriter for %r", self.name, exc.one_line(), query[:60])
            clauses = self.fallback.rewrite(query, lang)
            flag = {"fallback": self.fallback.name, "reason": exc.one_line(),
                    "answer": None if isinstance(answer, RewriteError) else answer}
            return dataclasses.replace(clauses, extra={**clauses.extra, **flag})

    @property
    def fallback(self) -> Rewriter:
        """The offline rewriter used when the model's answer cannot be parsed."""
        if self._fallback is None:
            from calibclip.composite.rewriters.rule import RuleRewriter

            self._fallback = RuleRewriter()
        return self._fallback
