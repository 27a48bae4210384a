"""``hf``: a local causal language model (e.g. Qwen3) through transformers.

The model is loaded from a local folder only (``local_files_only``): nothing
is downloaded. Chat models get their own chat template (thinking disabled);
``<think>`` blocks in an answer are dropped before parsing (``parse_answer``).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from calibclip.composite.rewriters.base import LLMRewriter, Rewriter
from calibclip.errors import WeightsNotFound


def quiet_progress_bars() -> None:
    """transformers' loading / saving bars only on a terminal (logs and CLI errors stay one line)."""
    if not sys.stderr.isatty():
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def load_causal_lm(path: str | Path, device: str = "cpu") -> tuple[Any, Any]:
    """Load (model, tokenizer) from a local transformers folder, or raise ``WeightsNotFound``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_progress_bars()
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise WeightsNotFound(f"no causal LM at {folder} (config.json missing)",
                              "pass a local transformers folder (config.json, tokenizer, weights), e.g. a "
                              "downloaded Qwen3 checkpoint")
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    return model.to(device).eval(), tokenizer


def chat_text(tokenizer: Any, prompt: str) -> str:
    """``prompt`` in the tokenizer's chat template (thinking disabled), or as it is without a template.

    Training (``calibclip llm finetune``) and generation both go through here, so
    a LoRA adapter sees at inference exactly the text it was trained on.
    """
    if not getattr(tokenizer, "chat_template", None):
        return prompt
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True, enable_thinking=False)


def adds_special_tokens(tokenizer: Any) -> bool:
    """Whether to let the tokenizer add its special tokens: a chat template already carries them."""
    return not getattr(tokenizer, "chat_template", None)


class HFRewriter(LLMRewriter):
    """Greedy generation with a local causal LM; batched, left-padded.

    The one generation path of the project: ``calibclip rewrite --rewriter hf``,
    ``calibclip llm rewrite`` and the held-out evaluation of ``calibclip llm
    finetune`` all call ``generate``.

    Args:
        path: local model folder (ignored when ``model`` and ``tokenizer`` are given).
        model, tokenizer: an already built transformers model (a peft model too) / tokenizer.
        device: "cpu" or "cuda".
        max_new_tokens: answer length cap (a TIGR line is 60–150 tokens).
        batch_size: prompts per ``generate`` call.
        prompt: prompt style ("one-shot", or "tuned" for adapters of ``calibclip llm finetune``).
    """

    name = "hf"

    def __init__(self, path: str | Path | None = None, model: Any = None, tokenizer: Any = None,
                 device: str = "cpu", max_new_tokens: int = 160, batch_size: int = 8,
                 rule: Rewriter | None = None, prompt: str = "one-shot") -> None:
        super().__init__(rule, prompt)
        if model is None or tokenizer is None:
            if path is None:
                raise WeightsNotFound("the hf rewriter needs a local model folder",
                                      "pass --llm /path/to/Qwen3 (a transformers checkpoint folder)")
            model, tokenizer = load_causal_lm(path, device)
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def generate(self, prompts: Sequence[str]) -> list[str]:
        """Greedy answers, ``batch_size`` prompts at a time, left-padded (the prompt is cut off)."""
        import torch

        answers: list[str] = []
        self.tokenizer.padding_side = "left"
        for start in tqdm(range(0, len(prompts), self.batch_size), desc="generate", leave=False,
                          disable=len(prompts) <= self.batch_size):
            texts = [chat_text(self.tokenizer, p) for p in prompts[start:start + self.batch_size]]
            batch = self.tokenizer(texts, return_tensors="pt", padding=True,
                                   add_special_tokens=adds_special_tokens(self.tokenizer)).to(self.model.device)
            with torch.no_grad():
                out = self.model.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=False,
                                          pad_token_id=self.tokenizer.pad_token_id)
            new = out[:, batch["input_ids"].shape[1]:]
            decoded = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            answers.extend(text.strip() for text in decoded)
        return answers
