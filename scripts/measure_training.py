"""Measure trained CalibCLIP (CVE head + dual curriculum) against plain fine-tuning at equal CPU time.

1. Pilot: CPU seconds per step of each arm at every epoch's curriculum stage.
2. Train each arm from the same start for every ``--train-seeds`` seed: the plain arm
   for its config's steps, the CalibCLIP arm for as many steps as cost the same CPU time.
3. Evaluate the start and every trained model on fresh person sets (``--eval-seeds``,
   never used for training or tuning): plain retrieval and with training-free
   calibration on top, overall and on unseen attribute combinations.
4. Paired deltas (CalibCLIP − plain) over every (training seed, evaluation seed) pair.

Example:
    OMP_WAIT_POLICY=PASSIVE nice -n 10 python scripts/measure_training.py --json runs/measure/report.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from calibclip.backbones import load_backbone
from calibclip.cli.common import format_table
from calibclip.config import CalibrationConfig
from calibclip.errors import CalibclipError
from calibclip.training.config import TrainConfig, load_train_config
from calibclip.training.contrastive import ContrastiveTrainer
from calibclip.training.curriculum import key_ids
from calibclip.training.data import positives
from calibclip.training.heldout import evaluate_fresh_pedes, seen_for_spec
from calibclip.training.model import build_trainee
from calibclip.training.run import train
from calibclip.training.sources import load_training_data
from calibclip.training.synthetic import default_data_dir, ensure_pedes

METRICS = ("rank1", "rank5", "rank10", "mAP", "mINP")
SUBSETS = ("all", "unseen_combinations", "calibrated_all", "calibrated_unseen_combinations")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--plain", default="configs/tiny-finetune.yaml", help="config of the plain arm")
    p.add_argument("--calib", default="configs/tiny-calibclip.yaml", help="config of the CalibCLIP arm")
    p.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--eval-seeds", type=int, nargs="+", default=[9101, 9102, 9103])
    p.add_argument("--eval-ids", type=int, default=None, help="identities per fresh set (default: the generator's)")
    p.add_argument("--pilot-steps", type=int, default=10, help="timed steps per arm and curriculum stage")
    p.add_argument("--out", type=Path, default=Path("runs/measure"), help="run folders")
    p.add_argument("--data-dir", default=None, help="generated-data cache (default: ~/.cache/calibclip/train-data)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of both configs (dotted for a section: optim.lr=0.001; YAML values)")
    p.add_argument("--reuse", action="store_true",
                   help="no pilot, no training: evaluate the runs already in --out (steps and times from their files)")
    p.add_argument("--json", type=Path, help="write every number here")
    return p.parse_args(argv)


def pilot(cfg: TrainConfig, data, steps: int) -> list[float]:
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
            image_idx, pos = data.train.caption_image[idx], positives(data.train.caption_image[idx],
                                                                     data.train.caption_group[idx])
            tick = time.process_time()
            trainer.train_step(data.train.images[image_idx], captions, pos, negatives)
            times.append(time.process_time() - tick)
        costs.append(statistics.median(times[1:]))
    return costs


def run_arm(cfg: TrainConfig, out: Path, seed: int, steps: int) -> dict:
    """Train one arm; → the checkpoint and the CPU and wall seconds it took."""
    cfg = dataclasses.replace(cfg, seed=seed, out=str(out),
                              optim=dataclasses.replace(cfg.optim, steps_per_epoch=steps))
    cpu, wall = time.process_time(), time.monotonic()
    result = train(cfg)
    return {"checkpoint": str(result.checkpoint), "steps": result.steps, "cpu_s": time.process_time() - cpu,
            "wall_s": time.monotonic() - wall, "best_val_rank1": result.best_val_rank1}


def finished_run(out: Path) -> dict:
    """A run written earlier: its checkpoint, steps and the seconds its epochs took."""
    from calibclip.backbones.tiny import load_tiny_model

    checkpoint = out / "tiny.pt"
    extra = load_tiny_model(checkpoint)[1]
    return {"checkpoint": str(checkpoint), "steps": extra["steps"], "cpu_s": float("nan"),
            "wall_s": sum(h["seconds"] for h in extra["history"]), "best_val_rank1": extra["val_metrics"]["rank1"]}


def evaluate(checkpoint: str, roots: dict[int, Path]) -> dict[int, dict]:
    """Every eval seed: plain and calibrated metrics, overall and on unseen combinations."""
    spec = f"tiny:{checkpoint}"
    backbone, seen = load_backbone(spec, "cpu"), (seen_for_spec(spec) or {}).get("pedes")
    return {seed: evaluate_fresh_pedes(backbone, root, seen, CalibrationConfig()) for seed, root in roots.items()}


def summarise(results: dict[str, dict[int, dict]], plain: list[str], calib: list[str]) -> list[dict]:
    """Mean ± std over models and eval seeds per arm, and the paired CalibCLIP − plain deltas."""
    rows = []
    arms = [("start (shipped tiny)", ["start"])] if "start" in results else []
    for label, names in [*arms, ("plain training", plain), ("CalibCLIP", calib)]:
        for subset in SUBSETS:
            values = {m: [results[n][s][subset][m] for n in names for s in results[n]] for m in METRICS}
            rows.append({"model": label, "subset": subset,
                         **{m: f"{np.mean(v):.1f} ± {np.std(v):.1f}" for m, v in values.items()}})
    for subset in SUBSETS:
        deltas = {m: [results[c][s][subset][m] - results[p][s][subset][m]
                      for p, c in zip(plain, calib) for s in results[p]] for m in METRICS}
        rows.append({"model": "Δ CalibCLIP − plain (paired)", "subset": subset,
                     **{m: f"{np.mean(v):+.1f} ± {np.std(v):.1f}" for m, v in deltas.items()}})
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
        plain_cfg, calib_cfg = (load_train_config(path, overrides) for path in (args.plain, args.calib))
        if args.data_dir:
            plain_cfg, calib_cfg = (dataclasses.replace(c, data_dir=args.data_dir) for c in (plain_cfg, calib_cfg))
        torch.set_num_threads(plain_cfg.threads)
        steps, calib_steps, costs = plain_cfg.optim.steps_per_epoch, None, {}
        if not args.reuse:
            data = load_training_data(plain_cfg)
            costs = {arm: pilot(cfg, data, args.pilot_steps) for arm, cfg in (("plain", plain_cfg), ("calib", calib_cfg))}
            calib_steps = round(steps * sum(costs["plain"]) / sum(costs["calib"]))
        runs, plain, calib = {}, [], []
        for seed in args.train_seeds:
            for arm, cfg, arm_steps in (("plain", plain_cfg, steps), ("calib", calib_cfg, calib_steps)):
                out = args.out / f"{arm}-s{seed}"
                runs[out.name] = finished_run(out) if args.reuse else run_arm(cfg, out, seed, arm_steps)
            plain.append(f"plain-s{seed}")
            calib.append(f"calib-s{seed}")
        data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
        roots = {seed: ensure_pedes(data_dir, seed, args.eval_ids) for seed in args.eval_seeds}
        from calibclip.backbones.tiny import bundled_checkpoint

        results = {"start": evaluate(str(bundled_checkpoint()), roots)} if plain_cfg.init == "tiny" else {}
        results.update({name: evaluate(run["checkpoint"], roots) for name, run in runs.items()})
    except CalibclipError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    rows = summarise(results, plain, calib)
    if costs:
        print(f"pilot CPU s/step per epoch: plain {costs['plain']}, CalibCLIP {costs['calib']}; "
              f"steps per epoch: plain {steps}, CalibCLIP {calib_steps}")
    for name, run in runs.items():
        print(f"{name}: {run['steps']} steps, {run['cpu_s']:.0f} CPU s, {run['wall_s']:.0f} s wall")
    print(format_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"costs": costs, "steps": {"plain": steps, "calib": calib_steps},
                                         "runs": runs, "results": results, "table": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
