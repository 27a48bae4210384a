"""``train_tiny``: the whole ``calibclip train`` run, data to shipped checkpoint.

Output folder::

    resolved.yaml   the config after CLI overrides (timm's args.yaml)
    last.pt         full training state after every epoch (``--resume`` reads it)
    best.pt         best validation R@1 so far, as a ``tiny:`` checkpoint (fp16)
    tiny.pt         the final deliverable: ``best.pt`` with the run's summary in ``extra``
    history.json    loss and validation metrics per epoch
"""
from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml

from calibclip.backbones import resolve_device
from calibclip.backbones.base import Backbone
from calibclip.backbones.tiny import load_tiny_model, save_tiny_checkpoint
from calibclip.backbones.tiny_model import TinyCLIP, TinyConfig
from calibclip.config import to_dict
from calibclip.evaluation.metrics import person_retrieval_metrics
from calibclip.training.config import TrainConfig, config_to_dict
from calibclip.training.contrastive import ContrastiveTrainer, read_state
from calibclip.training.data import PairSet, build_vocab, concat_pairs
from calibclip.training.synthetic import (default_data_dir, ensure_pedes, ensure_tigr, pedes_pairs,
                                          pedes_recaptioner, seen_combinations, tigr_pairs)

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """Where the run wrote its files, and how it went."""

    checkpoint: Path
    out_dir: Path
    steps: int
    epochs: int
    best_val_rank1: float
    wall_seconds: float
    history: list[dict[str, Any]]


@dataclass
class TrainingData:
    """Pairs to train on, the person split to validate on, and where they came from."""

    train: PairSet
    val: PairSet
    sources: dict[str, str]
    seen: dict[str, list[str]]          # attribute combinations present in training (see seen_combinations)
    recaption: Callable[[np.random.Generator], list[str]] | None = None  # fresh captions for the first pairs


def load_training_data(cfg: TrainConfig) -> TrainingData:
    """Generate or reuse the synthetic sets and decode them at the model's input size."""
    data_dir = Path(cfg.data_dir) if cfg.data_dir else default_data_dir()
    size = tuple(cfg.model.image_size)
    pedes_root = ensure_pedes(data_dir, cfg.data.pedes_seed, cfg.data.pedes_ids)
    parts = [pedes_pairs(pedes_root, "train", size, joined=cfg.data.joined_captions)]
    recaption = (pedes_recaptioner(pedes_root, "train", cfg.data.joined_captions)
                 if cfg.data.resample_captions else None)
    sources = {"pedes": str(pedes_root)}
    tigr_root, scenes = None, None
    if cfg.data.use_tigr:
        tigr_root = ensure_tigr(data_dir, cfg.data.tigr_seed, cfg.data.tigr_scale, cfg.data.langs)
        tigr, scenes = tigr_pairs(tigr_root, cfg.data.langs, size, cfg.data.tigr_max_scenes)
        parts.append(tigr)
        sources["tigr"] = str(tigr_root)
    val = pedes_pairs(pedes_root, "val", size, max_images=cfg.data.val_max_images)
    train = concat_pairs(parts)
    log.info("training pairs: %d captions over %d images; validation: %d captions", len(train),
             len(train.images), len(val))
    return TrainingData(train=train, val=val, sources=sources,
                        seen=seen_combinations(pedes_root, tigr_root, scenes), recaption=recaption)


@torch.no_grad()
def validate(backbone: Backbone, val: PairSet, batch_size: int = 256) -> dict[str, float]:
    """IRRA person-retrieval metrics of ``backbone`` on a decoded split (captions → images)."""
    images = torch.cat([backbone.encode_image(backbone.normalize(val.images[i:i + batch_size].float() / 255.0))
                        .float().cpu() for i in range(0, len(val.images), batch_size)])
    texts = backbone.embed_texts(val.captions, batch_size)
    image_pids = torch.empty(len(val.images), dtype=torch.long)
    image_pids[val.caption_image] = val.caption_group
    metrics = person_retrieval_metrics((texts @ images.T).numpy(), val.caption_group.numpy(), image_pids.numpy())
    return {k: float(v) for k, v in metrics.items()}


def seed_everything(seed: int) -> None:
    """Python, numpy and torch generators (the trainer keeps its own for data order)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(cfg: TrainConfig, captions: list[str]) -> TinyCLIP:
    """A fresh TinyCLIP whose vocabulary is every training word."""
    arch = {k: v for k, v in to_dict(cfg.model).items() if k != "min_word_count"}
    vocab = build_vocab(captions, cfg.model.min_word_count)
    return TinyCLIP(TinyConfig(**arch, vocab=vocab))


def train_tiny(cfg: TrainConfig, resume: bool = False) -> TrainResult:
    """Train TinyCLIP on the synthetic sets; validate each epoch; write ``tiny.pt``.

    Example:
        >>> result = train_tiny(load_train_config("configs/tiny.yaml"))
        >>> load_backbone(f"tiny:{result.checkpoint}")
    """
    started = time.monotonic()
    out = Path(cfg.out)
    torch.set_num_threads(max(1, cfg.threads))
    seed_everything(cfg.seed)
    state = read_state(out / "last.pt") if resume else None
    data = load_training_data(cfg)
    model = build_model(cfg, data.train.captions)
    steps_per_epoch = len(data.train) // min(cfg.optim.batch_size, len(data.train))
    trainer = ContrastiveTrainer(model, cfg, steps_per_epoch * cfg.epochs, resolve_device(cfg.device))
    if state:
        trainer.load_state(state, where=out / "last.pt")
        log.info("resumed at epoch %d, step %d", trainer.epoch, trainer.step)
    out.mkdir(parents=True, exist_ok=True)
    (out / "resolved.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False), encoding="utf-8")
    while trainer.epoch < cfg.epochs:
        _epoch(trainer, data, out, cfg)
    return _finish(trainer, cfg, data, out, time.monotonic() - started)


def _epoch(trainer: ContrastiveTrainer, data: TrainingData, out: Path, cfg: TrainConfig) -> None:
    """Train one epoch, validate, keep the best checkpoint, save the resumable state."""
    tick = time.monotonic()
    if data.recaption is not None:
        fresh = data.recaption(trainer.rng)  # the person pairs come first in ``data.train``
        data.train.captions[:len(fresh)] = fresh
    losses = trainer.run_epoch(data.train)
    metrics = validate(trainer.backbone, data.val)
    trainer.model.train()
    record = {"epoch": trainer.epoch, "step": trainer.step, "loss": float(np.mean(losses)),
              "val_rank1": metrics["rank1"], "val_mAP": metrics["mAP"], "seconds": time.monotonic() - tick}
    trainer.history.append(record)
    log.info("epoch %d: loss %.4f, val R@1 %.2f, mAP %.2f (%.0f s)", record["epoch"], record["loss"],
             record["val_rank1"], record["val_mAP"], record["seconds"])
    if metrics["rank1"] > trainer.best_score:
        trainer.best_score = metrics["rank1"]
        save_tiny_checkpoint(trainer.model, out / "best.pt", extra={"epoch": trainer.epoch, "val": metrics})
    trainer.save_state(out / "last.pt")
    (out / "history.json").write_text(json.dumps(trainer.history, indent=1), encoding="utf-8")


def _finish(trainer: ContrastiveTrainer, cfg: TrainConfig, data: TrainingData, out: Path,
            wall: float) -> TrainResult:
    """Write ``tiny.pt``: the best epoch's weights plus everything needed to reproduce them."""
    best, best_extra = load_tiny_model(out / "best.pt")
    extra = {"train_config": config_to_dict(cfg), "seed": cfg.seed, "data_seeds":
             {"pedes": cfg.data.pedes_seed, "tigr": cfg.data.tigr_seed if cfg.data.use_tigr else None},
             "data_sources": data.sources, "seen_combinations": data.seen, "best_epoch": best_extra.get("epoch"),
             "val_metrics": best_extra.get("val"), "history": trainer.history, "steps": trainer.step,
             "wall_seconds_this_run": round(wall, 1)}
    final = save_tiny_checkpoint(best, out / "tiny.pt", extra=extra)
    log.info("wrote %s (best epoch %s, val R@1 %.2f)", final, extra["best_epoch"], trainer.best_score)
    return TrainResult(checkpoint=final, out_dir=out, steps=trainer.step, epochs=trainer.epoch,
                       best_val_rank1=trainer.best_score, wall_seconds=wall, history=trainer.history)
