"""A local causal LM (+ LoRA adapter) as the ``hf`` rewriter (``calibclip llm rewrite``, ``--rewriter hf``).

Generation is ``HFRewriter.generate`` (batched, left-padded, greedy), the same
code the held-out evaluation of ``finetune`` uses; files are written by
``composite.rewrite_file``.
"""
from __future__ import annotations

from pathlib import Path

from calibclip.composite.rewriters.base import LLMRewriter
from calibclip.llm.weights import load_model


def local_rewriter(model: str | Path, adapter: str | Path | None = None, device: str = "auto",
                   batch_size: int = 8, max_new_tokens: int = 192, prompt: str | None = None) -> LLMRewriter:
    """The ``hf`` rewriter over ``model`` (+ ``adapter``, merged); the prompt style defaults to the adapter's.

    Example:
        >>> rw = local_rewriter("runs/tiny-qwen3/base", "runs/tiny-qwen3/lora")
        >>> rw.rewrite("A man in a red coat in the park, without a hat").not_clauses
        ('a hat',)
    """
    from calibclip.backbones import resolve_device
    from calibclip.composite.rewriters import create_rewriter

    lm, tokenizer, meta = load_model(model, adapter, str(resolve_device(device)))
    return create_rewriter("hf", model=lm, tokenizer=tokenizer, batch_size=batch_size,
                           max_new_tokens=max_new_tokens, prompt=prompt or meta.get("prompt", "one-shot"))

