"""Trained CalibCLIP (CVE head + dual curriculum) against plain fine-tuning at equal CPU time.

1. Pilot (``pilot``): CPU seconds per step of each arm at every epoch's curriculum stage.
2. Train each arm from the same start (``run_arm``): the plain arm for its config's steps,
   the CalibCLIP arm for as many steps as cost the same CPU time (``equal_cost_steps``).
3. Evaluate the start and every trained model on fresh person sets (seeds never used for
   training or tuning, ``evaluate_models``): plain retrieval and with training-free
   calibration on top (the method's public-code knobs, the same for every model), overall and
   on the identities whose attribute combination no training identity has.
4. Paired deltas (CalibCLIP − plain) over every (training seed, evaluation seed) pair (``summarise``).

``scripts/measure_training.py`` is the command line; docs/guides/training.md has the measured table.
"""
from __future__ import annotations

import dataclasses
import logging
import statistics
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from calibclip.config import PUBLIC_CODE_DEFAULTS, CalibrationConfig
from calibclip.training.config import TrainConfig
from calibclip.training.contrastive import ContrastiveTrainer
from calibclip.training.curriculum import key_ids
from calibclip.training.data import positives
from calibclip.training.model import build_trainee
from calibclip.training.run import train
from calibclip.training.sources import TrainingData

log = logging.getLogger(__name__)

METRICS = ("rank1", "rank5", "rank10", "mAP", "mINP")
SUBSETS = ("all", "unseen_combinations", "calibrated_all", "calibrated_unseen_combinations")
# training-free calibration on top of every model: the method's public-code values, fixed before looking
CALIBRATION = CalibrationConfig(**PUBLIC_CODE_DEFAULTS)


def pilot(cfg: TrainConfig, data: TrainingData, steps: int) -> list[float]:
    """Median CPU seconds per step at each epoch's curriculum stage (after one untimed step)."""
    trainee = build_trainee(cfg, data.train.captions, torch.device("cpu"))
    trainer = ContrastiveTrainer(trainee, cfg, total_steps=1000)
    keys, costs = key_ids(data.keys), []
    for epoch in range(cfg.epochs):
        trainer.epoch = epoch
        stage, batches = trainer.stage, trainer.batches(data.train, keys)[:steps + 1]
        times = []
        for idx in batches:
            captions, negatives = trainer.captions([data.train.captions[i] for i in idx.tolist()], stage)
            image_idx = data.train.caption_image[idx]
            pos = positives(image_idx, data.train.caption_group[idx])
            tick = time.process_time()
            trainer.train_step(data.train.images[image_idx], captions, pos, negatives)
            times.append(time.process_time() - tick)
        costs.append(statistics.median(times[1:]))
    return costs


def equal_cost_steps(steps: int, plain_costs: Sequence[float], calib_costs: Sequence[float]) -> int:
    """Steps per epoch of the CalibCLIP arm that cost what ``steps`` plain steps per epoch cost."""
    return round(steps * sum(plain_costs) / sum(calib_costs))


def run_arm(cfg: TrainConfig, out: Path, seed: int, steps: int) -> dict[str, Any]:
    """Train one arm; → the checkpoint, the steps and the CPU and wall seconds it took."""
    cfg = dataclasses.replace(cfg, seed=seed, out=str(out),
                              optim=dataclasses.replace(cfg.optim, steps_per_epoch=steps))
    cpu, wall = time.process_time(), time.monotonic()
    result = train(cfg)
    return {"checkpoint": str(result.checkpoint), "steps": result.steps, "cpu_s": time.process_time() - cpu,
            "wall_s": time.monotonic() - wall, "train_s": sum(h["seconds"] for h in result.history),
            "best_val_rank1": result.best_val_rank1}


def finished_run(out: Path) -> dict[str, Any]:
    """A run written earlier: its checkpoint, steps and the wall seconds its epochs took."""
    from calibclip.backbones.tiny import load_tiny_model

    checkpoint = out / "tiny.pt"
    extra = load_tiny_model(checkpoint)[1]
    train_s = sum(h["seconds"] for h in extra["history"])
    return {"checkpoint": str(checkpoint), "steps": extra["steps"], "cpu_s": float("nan"), "wall_s": float("nan"),
            "train_s": train_s, "best_val_rank1": extra["val_metrics"]["rank1"]}


def evaluate_models(checkpoints: dict[str, str], roots: dict[int, Path]) -> dict[str, dict[int, dict]]:
    """Every model on every eval set: plain and calibrated metrics, overall and on unseen combinations."""
    from calibclip.backbones import load_backbone
    from calibclip.training.heldout import evaluate_fresh_pedes, seen_for_spec

    results = {}
    for name, checkpoint in checkpoints.items():
        spec = f"tiny:{checkpoint}"
        backbone, seen = load_backbone(spec, "cpu"), (seen_for_spec(spec) or {}).get("pedes")
        results[name] = {seed: evaluate_fresh_pedes(backbone, root, seen, CALIBRATION) for seed, root in roots.items()}
        log.info("evaluated %s", name)
    return results


def _cell(values: Sequence[float], signed: bool = False) -> str:
    return f"{np.mean(values):{'+' if signed else ''}.1f} ± {np.std(values):.1f}"


def summarise(results: dict[str, dict[int, dict]], arms: dict[str, list[str]],
              pairs: Sequence[tuple[str, str, str]]) -> list[dict[str, str]]:
    """Mean ± std over models and eval seeds per arm, then paired deltas.

    Args:
        results: ``evaluate_models`` output.
        arms: row label → the model names it pools.
        pairs: (row label, arm A, arm B): the delta B − A, paired by position in ``arms`` and by eval seed.
    """
    rows = []
    for label, names in arms.items():
        for subset in SUBSETS:
            values = {m: [results[n][s][subset][m] for n in names for s in results[n]] for m in METRICS}
            rows.append({"model": label, "subset": subset, **{m: _cell(v) for m, v in values.items()}})
    for label, first, second in pairs:
        for subset in SUBSETS:
            deltas = {m: [results[b][s][subset][m] - results[a][s][subset][m]
                          for a, b in zip(arms[first], arms[second]) for s in results[a]] for m in METRICS}
            rows.append({"model": label, "subset": subset, **{m: _cell(v, True) for m, v in deltas.items()}})
    return rows


__all__ = ["METRICS", "SUBSETS", "CALIBRATION", "pilot", "equal_cost_steps", "run_arm", "finished_run",
           "evaluate_models", "summarise"]
