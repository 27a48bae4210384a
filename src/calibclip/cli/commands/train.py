"""``calibclip train``: train the tiny demonstration model on generated synthetic data."""
from __future__ import annotations

import argparse

from calibclip.cli.common import add_json_arg, print_json, print_table

HELP = "train a TinyCLIP (the bundled 'tiny' model) contrastively on generated synthetic data"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="configs/tiny.yaml", help="training YAML (default: configs/tiny.yaml)")
    parser.add_argument("--out", default=None, help="output folder (default: the config's 'out')")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--epochs", type=int, default=None, help="total epochs (overrides the config)")
    parser.add_argument("--seed", type=int, default=None, help="training seed (overrides the config)")
    parser.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"],
                        help="where to train (default: the config's 'device')")
    parser.add_argument("--data-dir", default=None,
                        help="where generated training data is cached (default: ~/.cache/calibclip/train-data)")
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    from calibclip.training.config import load_train_config
    from calibclip.training.run import train_tiny

    cfg = load_train_config(args.config, {"out": args.out, "epochs": args.epochs, "seed": args.seed,
                                          "device": args.device, "data_dir": args.data_dir})
    result = train_tiny(cfg, resume=args.resume)
    summary = {"checkpoint": str(result.checkpoint), "epochs": result.epochs, "steps": result.steps,
               "best_val_rank1": result.best_val_rank1, "wall_seconds": round(result.wall_seconds, 1)}
    if args.json:
        print_json({**summary, "history": result.history})
        return 0
    print_table([{k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}
                 for row in result.history], title="epochs")
    for key, value in summary.items():
        print(f"{key}: {value}")
    return 0
