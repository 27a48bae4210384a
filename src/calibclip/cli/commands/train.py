"""``calibclip train`` (and the seed's ``tools/train.py``): contrastive training, CVE head, dual curriculum.

    calibclip train --config configs/tiny.yaml                      # the bundled tiny model
    python tools/train.py --config configs/cuhkpedes.yaml \\
        --data_root /path/to/CUHK-PEDES --output_dir outputs/        # the seed command
"""
from __future__ import annotations

import argparse

from calibclip.cli.common import add_json_arg, add_threads_arg, print_json, print_table

HELP = "train a model contrastively (tiny, or the calibclip ViT), with the CVE head and dual curriculum"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="configs/tiny.yaml",
                        help="training YAML (configs/tiny.yaml) or seed YAML (configs/cuhkpedes.yaml)")
    parser.add_argument("--data_root", "--data-root", default=None,
                        help="train on this person-retrieval dataset folder (default: generated synthetic data)")
    parser.add_argument("--out", "--output_dir", "--output-dir", dest="out", default=None,
                        help="output folder (default: the config's 'out')")
    parser.add_argument("--init", default=None,
                        help="start weights: 'tiny' (bundled), a tiny checkpoint, or any file build_calibclip reads")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--epochs", type=int, default=None, help="total epochs (overrides the config)")
    parser.add_argument("--seed", type=int, default=None, help="training seed (overrides the config)")
    parser.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"],
                        help="where to train (default: the config's 'device')")
    add_threads_arg(parser)  # overrides the config's threads when > 0
    parser.add_argument("--data-dir", default=None,
                        help="where generated training data is cached (default: ~/.cache/calibclip/train-data)")
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    from calibclip.training.config import load_train_config
    from calibclip.training.run import train

    cfg = load_train_config(args.config, {"out": args.out, "epochs": args.epochs, "seed": args.seed,
                                          "device": args.device, "data_dir": args.data_dir, "init": args.init,
                                          "threads": args.threads or None},
                            data_root=args.data_root)
    result = train(cfg, resume=args.resume)
    summary = {"checkpoint": str(result.checkpoint), "epochs": result.epochs, "steps": result.steps,
               "best_val_rank1": result.best_val_rank1, "wall_seconds": round(result.wall_seconds, 1)}
    if args.json:
        print_json({**summary, "final_val": result.final_val, "history": result.history})
        return 0
    print_table([{k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}
                 for row in result.history], title="epochs")
    print_table([{"model": name, **{k: round(v, 2) for k, v in metrics.items()}}
                 for name, metrics in result.final_val.items()],
                title="best epoch on the val split: plain vs training-free calibration on top")
    for key, value in summary.items():
        print(f"{key}: {value}")
    return 0
