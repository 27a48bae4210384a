"""Query rewriters (CsdCLIP): raw query → optimized query + AND / NOT clauses.

Registry-backed and lazy: ``hf`` imports transformers and ``openai`` opens
connections only when created and used.

Example:
    >>> from calibclip.composite.rewriters import create_rewriter
    >>> create_rewriter("rule").rewrite("a dog on a sofa, no cats").not_clauses
    ('cats',)
"""
from __future__ import annotations

from typing import Any

from calibclip.composite.rewriters.base import LLMRewriter, Rewriter
from calibclip.registry import Registry

REWRITERS = Registry("rewriter")
REWRITERS.register("gold", "calibclip.composite.rewriters.gold:GoldRewriter")
REWRITERS.register("rule", "calibclip.composite.rewriters.rule:RuleRewriter")
REWRITERS.register("hf", "calibclip.composite.rewriters.hf:HFRewriter")
REWRITERS.register("openai", "calibclip.composite.rewriters.openai:OpenAIRewriter")


def create_rewriter(name: str, **kwargs: Any) -> Rewriter:
    """Create the rewriter registered as ``name`` with its keyword options."""
    return REWRITERS.get(name)(**kwargs)


def list_rewriters() -> list[str]:
    """Registered rewriter names."""
    return REWRITERS.names()


__all__ = ["REWRITERS", "Rewriter", "LLMRewriter", "create_rewriter", "list_rewriters"]
