"""``calibclip heldout``: plain retrieval on fresh synthetic person and scene sets (new seeds)."""
from __future__ import annotations

import argparse

from calibclip.cli.common import (add_backbone_arg, add_device_arg, add_json_arg, add_threads_arg, apply_threads,
                                  print_json, print_table)

HELP = "evaluate a backbone on freshly generated synthetic sets, overall and on unseen attribute combinations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_backbone_arg(parser)
    parser.add_argument("--pedes-seed", type=int, default=7001, help="seed of the fresh person set (default: 7001)")
    parser.add_argument("--tigr-seed", type=int, default=7002, help="seed of the fresh scene set (default: 7002)")
    parser.add_argument("--lang", default="en,zh", help="scene-set query languages (default: en,zh)")
    parser.add_argument("--skip", choices=["pedes", "tigr"], action="append", default=[],
                        help="leave one evaluation out (repeatable)")
    parser.add_argument("--style", choices=["classic", "train", "heldout"], default="classic",
                        help="drawing style family of the fresh sets (default: classic, the tiny model's drawing)")
    parser.add_argument("--lookalike-group", type=int, default=0,
                        help="person set: identities in groups of N sharing gender, garment and its colour")
    parser.add_argument("--calibrated", action="store_true",
                        help="also report training-free CalibCLIP (default knobs) on the person set")
    parser.add_argument("--data-dir", default=None,
                        help="where the fresh sets are generated or reused (default: ~/.cache/calibclip/train-data)")
    add_device_arg(parser)
    add_threads_arg(parser)
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from calibclip.backbones import load_backbone
    from calibclip.config import CalibrationConfig
    from calibclip.datasets.synthetic_pedes import PedesOptions
    from calibclip.training.heldout import evaluate_heldout, seen_for_spec
    from calibclip.datasets.generated import default_data_dir, ensure_pedes, ensure_tigr

    apply_threads(args)
    langs = tuple(s.strip() for s in args.lang.split(",") if s.strip())
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    backbone = load_backbone(args.backbone, args.device)
    options = PedesOptions(style=args.style, lookalike_group=args.lookalike_group).check()
    pedes = None if "pedes" in args.skip else ensure_pedes(data_dir, args.pedes_seed, options=options)
    tigr = None if "tigr" in args.skip else ensure_tigr(data_dir, args.tigr_seed, langs=langs, style=args.style)
    calibration = CalibrationConfig() if args.calibrated else None
    report = evaluate_heldout(backbone, pedes, tigr, langs, seen_for_spec(args.backbone), calibration)
    if args.json:
        print_json(report)
        return 0
    for name, subsets in report.items():
        rows = [{"subset": subset, **metrics} for subset, metrics in subsets.items()]
        method = "plain and calibrated" if args.calibrated and name == "pedes" else "plain retrieval"
        print_table(rows, title=f"{name} ({args.backbone}, {method})")
        print()
    return 0
