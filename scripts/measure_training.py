"""Measure trained CalibCLIP (CVE head + dual curriculum) against plain fine-tuning at equal CPU time.

The steps are in ``calibclip.training.measure``: a pilot times each arm's steps, the CalibCLIP
arm gets as many steps as cost the plain arm's CPU time, and every model is evaluated on fresh
person sets (plain and with training-free calibration, overall and on unseen combinations),
with paired deltas. The measured table is in docs/guides/training.md.

Example:
    OMP_NUM_THREADS=1 nice -n 10 python scripts/measure_training.py --train-seeds 0 --eval-ids 450 \\
        --json runs/measure/report.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import torch
import yaml

from calibclip.cli.common import format_table
from calibclip.errors import CalibclipError
from calibclip.training.config import load_train_config
from calibclip.training.measure import equal_cost_steps, evaluate_models, finished_run, pilot, run_arm, summarise
from calibclip.training.sources import load_training_data
from calibclip.datasets.generated import default_data_dir, ensure_pedes


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
    p.add_argument("--calib-set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of the CalibCLIP arm only (a variant: cve.enabled=false)")
    p.add_argument("--reuse", action="store_true",
                   help="no pilot, no training: evaluate the runs already in --out (steps and times from their files)")
    p.add_argument("--json", type=Path, help="write every number here")
    return p.parse_args(argv)


def _overrides(items: list[str]) -> dict:
    return {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in items)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        shared = _overrides(args.set)
        plain_cfg = load_train_config(args.plain, shared)
        calib_cfg = load_train_config(args.calib, {**shared, **_overrides(args.calib_set)})
        if args.data_dir:
            plain_cfg, calib_cfg = (dataclasses.replace(c, data_dir=args.data_dir) for c in (plain_cfg, calib_cfg))
        torch.set_num_threads(plain_cfg.threads)
        steps, calib_steps, costs = plain_cfg.optim.steps_per_epoch, None, {}
        if not args.reuse:
            data = load_training_data(plain_cfg)
            costs = {arm: pilot(cfg, data, args.pilot_steps)
                     for arm, cfg in (("plain", plain_cfg), ("calib", calib_cfg))}
            calib_steps = equal_cost_steps(steps, costs["plain"], costs["calib"])
        runs: dict[str, dict] = {}
        for seed in args.train_seeds:
            for arm, cfg, arm_steps in (("plain", plain_cfg, steps), ("calib", calib_cfg, calib_steps)):
                out = args.out / f"{arm}-s{seed}"
                runs[out.name] = finished_run(out) if args.reuse else run_arm(cfg, out, seed, arm_steps)
        data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
        roots = {seed: ensure_pedes(data_dir, seed, args.eval_ids) for seed in args.eval_seeds}
        from calibclip.backbones.tiny import bundled_checkpoint

        checkpoints = {"start": str(bundled_checkpoint())} if plain_cfg.init == "tiny" else {}
        results = evaluate_models({**checkpoints, **{name: run["checkpoint"] for name, run in runs.items()}}, roots)
    except CalibclipError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    arms = {**({"start (shipped tiny)": ["start"]} if checkpoints else {}),
            "plain training": [f"plain-s{s}" for s in args.train_seeds],
            "CalibCLIP": [f"calib-s{s}" for s in args.train_seeds]}
    rows = summarise(results, arms, [("Δ CalibCLIP − plain (paired)", "plain training", "CalibCLIP")])
    if costs:
        print(f"pilot CPU s/step per epoch: plain {costs['plain']}, CalibCLIP {costs['calib']}; "
              f"steps per epoch: plain {steps}, CalibCLIP {calib_steps}")
    for name, run in runs.items():
        print(f"{name}: {run['steps']} steps, {run['cpu_s']:.0f} CPU s, {run['wall_s']:.0f} s wall "
              f"({run['train_s']:.0f} s in epochs)")
    print(format_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"costs": costs, "steps": {"plain": steps, "calib": calib_steps},
                                         "runs": runs, "results": results, "table": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
