"""Load a causal LM with or without a LoRA adapter of ``calibclip llm finetune``, and reload trained weights.

An adapter folder is peft's (``adapter_config.json`` + ``adapter_model.safetensors``)
plus our ``calibclip_llm.json``: the base it was trained on, the prompt style,
the config and the per-epoch held-out scores.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from calibclip.composite.rewriters.hf import load_causal_lm
from calibclip.errors import CheckpointMismatch, CorruptData, WeightsNotFound

META_FILE = "calibclip_llm.json"


def read_meta(adapter: str | Path) -> dict[str, Any]:
    """Our metadata of an adapter folder ({} for an adapter trained elsewhere)."""
    path = Path(adapter) / META_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorruptData(f"{path} is not valid JSON ({exc.msg})", "re-run calibclip llm finetune") from exc


def load_model(path: str | Path, adapter: str | Path | None = None, device: str = "cpu",
               merge: bool = True) -> tuple[Any, Any, dict[str, Any]]:
    """(model, tokenizer, adapter metadata) from local folders only; ``merge`` folds the LoRA into the weights.

    Example:
        >>> model, tokenizer, meta = load_model("runs/tiny-qwen3/base", "runs/tiny-qwen3/lora")
        >>> meta["prompt"]
        'tuned'
    """
    model, tokenizer = load_causal_lm(path, device)
    if adapter is None:
        return model, tokenizer, {}
    folder = Path(adapter)
    if not (folder / "adapter_config.json").is_file():
        raise WeightsNotFound(f"no LoRA adapter at {folder} (adapter_config.json missing)",
                              "pass the --output_dir of calibclip llm finetune")
    from peft import PeftModel

    try:
        model = PeftModel.from_pretrained(model, folder)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointMismatch(f"adapter {folder} does not fit the model at {path}: "
                                 f"{' '.join(str(exc).split())[:160]}",
                                 "pass the --base the adapter was trained on (see its calibclip_llm.json)") from exc
    model = model.merge_and_unload() if merge else model
    return model.eval(), tokenizer, read_meta(folder)


def load_trained_weights(model: Any, folder: str | Path) -> None:
    """Reload what ``save_pretrained`` wrote to ``folder`` into ``model`` (adapter only for a peft model)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if hasattr(model, "peft_config"):
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(folder / "adapter_model.safetensors"))
        return
    missing, unexpected = model.load_state_dict(load_file(folder / "model.safetensors"), strict=False)
    tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise CheckpointMismatch(f"weights in {folder} do not fit the model "
                                 f"(missing {sorted(set(missing) - tied)[:3]}, unexpected {sorted(unexpected)[:3]})")
