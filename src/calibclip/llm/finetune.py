"""``calibclip llm finetune``: LoRA (peft) on any transformers causal LM, from TIGR records.

Each record gives one pair (``pairs``): the prompt asks for the TIGR line of
the raw query, the answer is the rest of that line. A share of the queries is
held out; after every epoch the held-out queries are rewritten with the same
generation code as ``calibclip llm rewrite`` (``HFRewriter``) and scored:
clause P/R/F1, exact-line accuracy and parse rate of what the model wrote.

Output folder::

    adapter_config.json, adapter_model.safetensors   the final LoRA adapter (peft)
    calibclip_llm.json                               base, prompt style, config, per-epoch scores
    checkpoints/epoch-N/                             resumable states (``--resume``)
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from calibclip.config import to_dict
from calibclip.errors import ConfigError
from calibclip.llm.pairs import Pair, encode_pairs, read_pairs, split_pairs
from calibclip.llm.trainer import LoopConfig, fit
from calibclip.llm.weights import META_FILE

log = logging.getLogger(__name__)

QWEN3_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
META_FORMAT = "calibclip-lora-v1"


@dataclass
class FinetuneConfig:
    """Everything ``calibclip llm finetune`` needs (the flags, as data)."""

    base: str                                          # local transformers folder of the causal LM
    data: tuple[str, ...]                              # TIGR jsonl files (en_*.jsonl, zh_*.jsonl)
    output_dir: str                                    # adapter, metadata and checkpoints go here
    lora_r: int = 8                                    # LoRA rank
    lora_alpha: int = 16                               # LoRA scaling numerator (scale = alpha / r)
    lora_dropout: float = 0.05                         # dropout on the LoRA input
    target_modules: tuple[str, ...] = QWEN3_TARGETS    # module names, or ("all-linear",)
    max_len: int = 512                                 # longest prompt + answer in tokens (longer: left out)
    heldout: float = 0.1                               # share of queries held out for evaluation
    eval_max: int = 200                                # held-out queries rewritten per epoch (0: none)
    prompt: str = "tuned"                              # prompt style (composite.rewriters.base.PROMPTS)
    max_new_tokens: int = 192                          # answer cap during evaluation
    device: str = "auto"                               # "auto" | "cpu" | "cuda"
    loop: LoopConfig = field(default_factory=LoopConfig)


def _peft_model(model: Any, cfg: FinetuneConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    targets = cfg.target_modules
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, task_type="CAUSAL_LM",
                      target_modules="all-linear" if tuple(targets) == ("all-linear",) else list(targets))
    try:
        return get_peft_model(model, lora)
    except ValueError as exc:
        raise ConfigError(f"--target-modules {','.join(targets)} do not fit this model: "
                          f"{' '.join(str(exc).split())[:160]}",
                          "name its linear layers (e.g. q_proj,v_proj) or pass all-linear") from exc


def heldout_scores(model: Any, tokenizer: Any, pairs: Sequence[Pair], prompt: str, batch_size: int,
                   max_new_tokens: int) -> dict[str, float]:
    """Rewrite held-out queries (per language) with ``HFRewriter`` and score what the model wrote."""
    from calibclip.composite.rewriters.hf import HFRewriter
    from calibclip.llm.scores import llm_scores

    was_training = model.training
    model.eval()
    rewriter = HFRewriter(model=model, tokenizer=tokenizer, batch_size=batch_size,
                          max_new_tokens=max_new_tokens, prompt=prompt)
    predicted, gold = [], []
    for lang in sorted({p.lang for p in pairs}):
        group = [p for p in pairs if p.lang == lang]
        predicted += rewriter.rewrite_many([p.query for p in group], lang)
        gold += [p.gold for p in group]
    model.train(was_training)
    scores = llm_scores(predicted, gold, model_only=True)
    return {k: round(scores[k], 2) for k in ("F1", "AND-F1", "NOT-F1", "exact", "parsed")}


def _check_output(out: Path, resume: bool) -> None:
    if resume:
        return
    if (out / "checkpoints").is_dir() or (out / "adapter_config.json").is_file():
        raise ConfigError(f"--output_dir {out} already holds a fine-tuning run",
                          "pass --resume to continue it, or choose a new --output_dir (nothing is overwritten)")


def finetune(cfg: FinetuneConfig, resume: bool = False) -> dict[str, Any]:
    """Train a LoRA adapter on TIGR rewrite pairs; return a summary with the per-epoch held-out scores.

    Example:
        >>> cfg = FinetuneConfig(base="runs/tiny-qwen3/base", data=("runs/tiny-qwen3/data/en_train.jsonl",),
        ...                      output_dir="runs/tiny-qwen3/lora")
        >>> finetune(cfg)["history"][-1]["exact"]
    """
    import torch

    from calibclip.backbones import resolve_device
    from calibclip.composite.rewriters.base import check_prompt_style
    from calibclip.composite.rewriters.hf import load_causal_lm

    started, out = time.monotonic(), Path(cfg.output_dir)
    check_prompt_style(cfg.prompt)
    _check_output(out, resume)
    train, held = split_pairs(read_pairs(cfg.data), cfg.heldout, cfg.loop.seed)
    held = held[:cfg.eval_max]
    model, tokenizer = load_causal_lm(cfg.base, str(resolve_device(cfg.device)))
    examples = encode_pairs(tokenizer, train, cfg.prompt, cfg.max_len)
    torch.manual_seed(cfg.loop.seed)
    model = _peft_model(model, cfg)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def evaluate(epoch: int) -> dict[str, float]:
        if not held:
            return {}
        return heldout_scores(model, tokenizer, held, cfg.prompt, cfg.loop.batch_size * 2, cfg.max_new_tokens)

    history = fit(model, examples, cfg.loop, out, pad_id, evaluate, resume)
    model.save_pretrained(out)
    summary = {"output_dir": str(out), "base": str(Path(cfg.base).resolve()), "train_pairs": len(examples),
               "heldout_evaluated": len(held), "trainable_params": trainable, "history": history,
               "seconds": round(time.monotonic() - started, 1)}
    meta = {"format": META_FORMAT, "prompt": cfg.prompt, "config": to_dict(cfg), **summary}
    (out / META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return summary
