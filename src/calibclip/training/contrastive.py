"""Contrastive (CLIP) training of a TinyCLIP: loss, optimiser, schedule, resumable state.

The objective is CLIP's symmetric InfoNCE (Radford et al. 2021, "Learning
Transferable Visual Models From Natural Language Supervision"), extended to
several positives per row: captions of the same person (or the same TIGR
query) in a batch share the target mass instead of being pushed apart, as
identity-aware losses for text-based person search do (IRRA's SDM,
github.com/anosorae/IRRA). AdamW with linear warmup and cosine decay.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from calibclip.backbones.tiny import TinyBackbone
from calibclip.backbones.tiny_model import TinyCLIP
from calibclip.errors import CheckpointMismatch
from calibclip.training.config import TrainConfig
from calibclip.training.data import PairSet, augment, drop_clauses, positives
from calibclip.types import BackboneSpec

log = logging.getLogger(__name__)

STATE_FORMAT = "calibclip-train-state-v1"


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor,
              pos: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a batch; ``pos`` (B, B) marks caption i ↔ image j matches.

    With one positive per row (``pos`` = identity) this is exactly CLIP's loss.
    """
    logits = logit_scale.exp() * text_emb @ image_emb.T
    target = pos.float()
    text_to_image = -(target / target.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    image_to_text = -(target.T / target.T.sum(1, keepdim=True) * logits.T.log_softmax(1)).sum(1).mean()
    return (text_to_image + image_to_text) / 2


def warmup_cosine(warmup: int, total: int, min_ratio: float) -> Callable[[int], float]:
    """LR multiplier: linear from 0 over ``warmup`` steps, then cosine down to ``min_ratio``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on gains, biases, embeddings and the temperature (CLIP's recipe)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        plain = param.ndim < 2 or "embedding" in name or name == "logit_scale"
        (no_decay if plain else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class ContrastiveTrainer:
    """Owns the model, optimiser, schedule and random state; saves and restores all of them.

    Example:
        >>> trainer = ContrastiveTrainer(TinyCLIP(TinyConfig(vocab=vocab)), cfg, total_steps=1000)
        >>> trainer.run_epoch(pairs)
        >>> trainer.save_state("last.pt")
    """

    def __init__(self, model: TinyCLIP, cfg: TrainConfig, total_steps: int,
                 device: torch.device | str = "cpu") -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.model = model.to(self.device)
        # the adapter gives training the exact tokenizer and normalisation used at inference
        self.backbone = TinyBackbone(BackboneSpec(family="tiny", raw="tiny:training"), self.device, model)
        self.model.train()
        opt = cfg.optim
        self.optimizer = torch.optim.AdamW(param_groups(model, opt.weight_decay), lr=opt.lr, betas=(0.9, 0.98),
                                           eps=1e-6)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(opt.warmup_steps, total_steps, opt.min_lr_ratio))
        self.rng = np.random.default_rng(cfg.seed)
        self.step = 0
        self.epoch = 0
        self.best_score = -1.0
        self.history: list[dict[str, Any]] = []

    def train_step(self, images: torch.Tensor, captions: list[str], pos: torch.Tensor) -> float:
        """One optimiser step on uint8 ``images`` (B, 3, H, W) and their captions → loss."""
        self.model.train()
        pixels = self.backbone.normalize(augment(images, self.cfg.augment, self.rng).to(self.device))
        ids, eot = self.backbone.tokenize(captions)
        length = int(eot.max()) + 1  # padding past the longest caption changes nothing (causal)
        image_emb = self.model.encode_image(pixels)
        text_emb = self.model.encode_text(ids[:, :length].to(self.device), eot.to(self.device))
        loss = clip_loss(image_emb, text_emb, self.model.logit_scale, pos.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        with torch.no_grad():
            self.model.logit_scale.clamp_(0, self.cfg.optim.max_logit_scale)
        self.step += 1
        return float(loss.detach())

    def batches(self, pairs: PairSet) -> Iterator[torch.Tensor]:
        """Shuffled pair indices, full batches only (a short last batch has too few negatives)."""
        order = torch.from_numpy(self.rng.permutation(len(pairs)))
        size = min(self.cfg.optim.batch_size, len(pairs))
        for start in range(0, len(order) - size + 1, size):
            yield order[start:start + size]

    def run_epoch(self, pairs: PairSet) -> list[float]:
        """One pass over ``pairs`` with clause dropout → the loss of every step."""
        losses = []
        batches = list(self.batches(pairs))
        with tqdm(batches, desc=f"epoch {self.epoch + 1}", unit="step", leave=False) as bar:
            for idx in bar:
                captions = [drop_clauses(pairs.captions[i], self.cfg.augment.clause_dropout, self.rng)
                            for i in idx.tolist()]
                image_idx = pairs.caption_image[idx]
                pos = positives(image_idx, pairs.caption_group[idx])
                losses.append(self.train_step(pairs.images[image_idx], captions, pos))
                bar.set_postfix(loss=f"{losses[-1]:.3f}", lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
        self.epoch += 1
        return losses

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where training stopped."""
        return {"format": STATE_FORMAT, "model_config": self.model.cfg.to_dict(),
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "step": self.step, "epoch": self.epoch,
                "best_score": self.best_score, "history": self.history,
                "numpy_rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state()}

    def save_state(self, path: str | Path) -> Path:
        """Write ``state_dict()`` atomically (a crash mid-write keeps the previous file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(self.state_dict(), tmp)
        tmp.replace(path)
        return path

    def load_state(self, state: dict[str, Any], where: str | Path = "training state") -> None:
        """Restore a ``read_state`` dict into this trainer (same architecture and vocabulary)."""
        if state["model_config"] != self.model.cfg.to_dict():
            raise CheckpointMismatch(f"{where} was trained with another model config or vocabulary",
                                     "resume with the config that wrote it, or start a new --out folder")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.epoch = state["step"], state["epoch"]
        self.best_score, self.history = state["best_score"], state["history"]
        self.rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])


def read_state(path: str | Path) -> dict[str, Any]:
    """Load a training-state file, or raise one clear error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointMismatch(f"no training state to resume at {path}",
                                 "run without --resume first, or point --out at the earlier run")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise CheckpointMismatch(f"cannot read training state {path}: {type(exc).__name__}",
                                 "the file is damaged; start a new run") from exc
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointMismatch(f"{path} is not a calibclip training state")
    return state
