"""``train``: the one training engine behind ``calibclip train`` and ``tools/train.py``.

Output folder::

    resolved.yaml   the config after CLI overrides (timm's args.yaml)
    last.pt         full training state after every epoch (``--resume`` reads it)
    best.pt         best validation R@1 so far, in the model family's checkpoint format
    tiny.pt         the deliverable (``calibclip.pth`` for the calibclip model): ``best.pt`` with the
                    run's summary in ``extra``, including its validation with and without
                    training-free calibration
    history.json    per epoch: loss, curriculum stage, validation metrics (IRRA protocol)
    history.csv     the same, one row per epoch
"""
from __future__ import annotations

import csv
import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from calibclip.backbones import resolve_device
from calibclip.backbones.base import Backbone
from calibclip.evaluation.metrics import person_retrieval_metrics
from calibclip.training.config import TrainConfig, config_to_dict, seed_model_config
from calibclip.training.contrastive import ContrastiveTrainer, read_state
from calibclip.training.curriculum import key_ids
from calibclip.training.model import build_trainee
from calibclip.training.sources import TrainingData, load_training_data

log = logging.getLogger(__name__)

METRICS = ("rank1", "rank5", "rank10", "mAP", "mINP")


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
    final_val: dict[str, dict[str, float]]  # the deliverable on the val split: baseline and calibrated


@torch.no_grad()
def validate(backbone: Backbone, val, batch_size: int = 256) -> dict[str, float]:
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


def train(cfg: TrainConfig, resume: bool = False) -> TrainResult:
    """Train ``cfg.backbone`` (with the CVE head and dual curriculum when enabled); validate each epoch.

    Example:
        >>> result = train(load_train_config("configs/tiny.yaml"))
        >>> load_backbone(f"tiny:{result.checkpoint}")
    """
    started = time.monotonic()
    out = Path(cfg.out)
    torch.set_num_threads(max(1, cfg.threads))
    seed_everything(cfg.seed)
    state = read_state(out / "last.pt") if resume else None
    data = load_training_data(cfg)
    device = resolve_device(cfg.device)
    trainee = build_trainee(cfg, data.train.captions, device)
    per_epoch = len(data.train) // min(cfg.optim.batch_size, len(data.train))
    steps_per_epoch = min(per_epoch, cfg.optim.steps_per_epoch or per_epoch)
    trainer = ContrastiveTrainer(trainee, cfg, steps_per_epoch * cfg.epochs, device)
    if state:
        trainer.load_state(state, where=out / "last.pt")
        log.info("resumed at epoch %d, step %d", trainer.epoch, trainer.step)
    out.mkdir(parents=True, exist_ok=True)
    (out / "resolved.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False), encoding="utf-8")
    keys = key_ids(data.keys)
    while trainer.epoch < cfg.epochs:
        _epoch(trainer, data, keys, out)
    return _finish(trainer, cfg, data, out, time.monotonic() - started)


def _epoch(trainer: ContrastiveTrainer, data: TrainingData, keys: np.ndarray, out: Path) -> None:
    """Train one epoch, validate, keep the best checkpoint, save the resumable state and the logs."""
    tick = time.monotonic()
    stage = trainer.stage
    if data.recaption is not None:
        fresh = data.recaption(trainer.rng)  # the person pairs come first in ``data.train``
        data.train.captions[:len(fresh)] = fresh
    losses = trainer.run_epoch(data.train, keys)
    trainer.model.eval()
    metrics = validate(trainer.backbone, data.val)
    trainer.model.train()
    record = {"epoch": trainer.epoch, "step": trainer.step, "loss": float(np.mean(losses)),
              "hard_share": stage.hard_share, "mask_rate": stage.mask_rate, "swap_rate": stage.swap_rate,
              **{f"val_{k}": metrics[k] for k in METRICS}, "seconds": time.monotonic() - tick}
    trainer.history.append(record)
    log.info("epoch %d: loss %.4f, val R@1 %.2f, mAP %.2f (%.0f s)", record["epoch"], record["loss"],
             record["val_rank1"], record["val_mAP"], record["seconds"])
    if metrics["rank1"] > trainer.best_score:
        trainer.best_score = metrics["rank1"]
        trainer.trainee.save(out / "best.pt", {"epoch": trainer.epoch, "val": metrics})
    trainer.save_state(out / "last.pt")
    write_history(trainer.history, out)


def write_history(history: list[dict[str, Any]], out: Path) -> None:
    """``history.json`` and ``history.csv`` (one row per epoch)."""
    (out / "history.json").write_text(json.dumps(history, indent=1), encoding="utf-8")
    with open(out / "history.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def _finish(trainer: ContrastiveTrainer, cfg: TrainConfig, data: TrainingData, out: Path,
            wall: float) -> TrainResult:
    """Write the deliverable: the best epoch's weights plus everything needed to reproduce and judge them."""
    best = torch.load(out / "best.pt", map_location="cpu", weights_only=True)
    best_extra = best.get("extra", {})
    final = out / trainer.trainee.final_name
    extra = {"train_config": config_to_dict(cfg), "seed": cfg.seed, "data_seeds": data.seeds,
             "data_sources": data.sources, "seen_combinations": data.seen, "best_epoch": best_extra.get("epoch"),
             "val_metrics": best_extra.get("val"), "history": trainer.history, "steps": trainer.step,
             "wall_seconds_this_run": round(wall, 1)}
    _save_blob({**best, "extra": extra}, final)
    extra["final_val"] = evaluate_both(cfg, final, data)
    _save_blob({**best, "extra": extra}, final)
    log.info("wrote %s (best epoch %s, val R@1 %.2f)", final, extra["best_epoch"], trainer.best_score)
    return TrainResult(checkpoint=final, out_dir=out, steps=trainer.step, epochs=trainer.epoch,
                       best_val_rank1=trainer.best_score, wall_seconds=wall, history=trainer.history,
                       final_val=extra["final_val"])


def evaluate_both(cfg: TrainConfig, checkpoint: Path, data: TrainingData) -> dict[str, dict[str, float]]:
    """The checkpoint as ``calibclip evaluate --checkpoint`` loads it, on the val split: plain and calibrated."""
    from calibclip.calibration.model import load_seed_model
    from calibclip.datasets.pedes import load_pedes
    from calibclip.evaluation.evaluator import evaluate_pedes

    seed = seed_model_config(cfg)
    model = load_seed_model(seed, checkpoint, cfg.device)
    result = evaluate_pedes(model, load_pedes(data.val_root, data.val_split, cfg.data.layout), seed.calibration)
    return {name: {k: float(result.metrics[name][k]) for k in METRICS} for name in ("baseline", "calibrated")}


def _save_blob(blob: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".partial")
    torch.save(blob, tmp)
    tmp.replace(path)


__all__ = ["TrainResult", "train", "validate", "seed_everything", "write_history", "evaluate_both"]
