"""The causal-LM training loop shared by ``pretrain-tiny`` (all weights) and ``finetune`` (LoRA).

Examples are ``(input_ids, labels)`` lists (labels -100 where no loss is
taken); batches are right-padded. AdamW, linear warm-up then cosine decay,
gradient accumulation, clipping at 1.0, optional bf16 autocast. After each
epoch: an optional evaluation, then ``<out>/checkpoints/epoch-N/`` (weights
via ``save_pretrained``, so an adapter for a peft model, plus ``state.pt``).
The data order and dropout of epoch N depend on (seed, N) only, so a resumed
run continues exactly as the uninterrupted one would.
"""
from __future__ import annotations

import logging
import math
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from tqdm.auto import tqdm

from calibclip.errors import CheckpointMismatch

log = logging.getLogger(__name__)

STATE_FORMAT = "calibclip-llm-state-v1"
Example = tuple[list[int], list[int]]


@dataclass
class LoopConfig:
    """Optimisation knobs of one training run."""

    epochs: int = 3                # passes over the training examples
    lr: float = 2e-4               # peak learning rate
    batch_size: int = 8            # examples per forward pass
    grad_accum: int = 1            # forward passes per optimizer step
    bf16: bool = False             # bf16 autocast (CUDA, or CPUs with bf16 support)
    seed: int = 0                  # data order and dropout
    warmup: float = 0.05           # share of optimizer steps with linear warm-up
    weight_decay: float = 0.0      # AdamW weight decay
    keep: int = 2                  # epoch checkpoints kept on disk


def make_batches(examples: Sequence[Example], batch_size: int, seed: int, epoch: int,
                 pad_id: int) -> list[dict[str, torch.Tensor]]:
    """Shuffle with (seed, epoch), then right-pad each batch (labels padded with -100)."""
    order = list(range(len(examples)))
    random.Random(seed * 100_003 + epoch).shuffle(order)
    batches = []
    for start in range(0, len(order), batch_size):
        chunk = [examples[i] for i in order[start:start + batch_size]]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (x, y) in enumerate(chunk):
            ids[row, :len(x)], labels[row, :len(y)], mask[row, :len(x)] = torch.tensor(x), torch.tensor(y), 1
        batches.append({"input_ids": ids, "labels": labels, "attention_mask": mask})
    return batches


def _optimizer(model: torch.nn.Module, cfg: LoopConfig, total_steps: int):
    from calibclip.training.contrastive import warmup_cosine

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = warmup_cosine(max(1, round(cfg.warmup * total_steps)), total_steps, 0.1)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def _run_epoch(model: torch.nn.Module, batches: list[dict], optimizer, scheduler, cfg: LoopConfig,
               epoch: int) -> float:
    device = next(model.parameters()).device
    model.train()
    torch.manual_seed(cfg.seed * 100_003 + epoch)
    total, count = 0.0, 0
    with tqdm(batches, desc=f"epoch {epoch}", unit="batch", leave=False) as bar:
        for i, batch in enumerate(bar):
            batch = {k: v.to(device) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                loss = model(**batch).loss
            (loss / cfg.grad_accum).backward()
            if (i + 1) % cfg.grad_accum == 0 or i + 1 == len(batches):
                torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            total, count = total + loss.item(), count + 1
            bar.set_postfix(loss=f"{total / count:.3f}")
    return total / max(1, count)


def latest_checkpoint(out_dir: Path) -> Path | None:
    """The newest ``checkpoints/epoch-N`` folder holding a complete state, or None."""
    found = [(int(p.name.split("-")[1]), p) for p in (out_dir / "checkpoints").glob("epoch-*")
             if p.name.split("-")[1].isdigit() and (p / "state.pt").is_file()]
    return max(found)[1] if found else None


def _save(model: torch.nn.Module, optimizer, scheduler, out_dir: Path, epoch: int, history: list[dict],
          keep: int) -> None:
    folder = out_dir / "checkpoints" / f"epoch-{epoch}"
    model.save_pretrained(folder)
    tmp = folder / "state.pt.tmp"
    torch.save({"format": STATE_FORMAT, "epoch": epoch, "history": history, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict()}, tmp)
    tmp.replace(folder / "state.pt")  # written last: a folder without state.pt is an interrupted save
    old = sorted((int(p.name.split("-")[1]), p) for p in (out_dir / "checkpoints").glob("epoch-*")
                 if p.name.split("-")[1].isdigit())
    for _, path in old[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


def _restore(model: torch.nn.Module, optimizer, scheduler, folder: Path) -> dict[str, Any]:
    from calibclip.llm.weights import load_trained_weights

    try:
        state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise CheckpointMismatch(f"cannot read {folder / 'state.pt'}: {type(exc).__name__}",
                                 "delete that checkpoint folder to resume from the one before") from exc
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointMismatch(f"{folder / 'state.pt'} is not a calibclip LLM training state")
    load_trained_weights(model, folder)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state


def fit(model: torch.nn.Module, examples: Sequence[Example], cfg: LoopConfig, out_dir: str | Path, pad_id: int,
        evaluate: Callable[[int], dict[str, float]] | None = None, resume: bool = False) -> list[dict[str, Any]]:
    """Train ``model`` in place for ``cfg.epochs`` epochs → one history row per epoch (loss + evaluation).

    With ``resume``, continue after the newest complete checkpoint in ``out_dir``.
    """
    out_dir = Path(out_dir)
    steps_per_epoch = math.ceil(math.ceil(len(examples) / cfg.batch_size) / cfg.grad_accum)
    optimizer, scheduler = _optimizer(model, cfg, max(1, steps_per_epoch * cfg.epochs))
    history: list[dict[str, Any]] = []
    start = 1
    if resume:
        folder = latest_checkpoint(out_dir)
        if folder is None:
            raise CheckpointMismatch(f"nothing to resume in {out_dir} (no checkpoints/epoch-N/state.pt)",
                                     "run without --resume first")
        state = _restore(model, optimizer, scheduler, folder)
        history, start = list(state["history"]), state["epoch"] + 1
        log.info("resumed after epoch %d from %s", state["epoch"], folder)
    for epoch in range(start, cfg.epochs + 1):
        batches = make_batches(examples, cfg.batch_size, cfg.seed, epoch, pad_id)
        row: dict[str, Any] = {"epoch": epoch, "loss": _run_epoch(model, batches, optimizer, scheduler, cfg, epoch)}
        if evaluate is not None:
            row.update(evaluate(epoch))
        history.append(row)
        log.info("epoch %d: %s", epoch, ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch"))
        _save(model, optimizer, scheduler, out_dir, epoch, history, cfg.keep)
    return history
