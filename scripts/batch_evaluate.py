"""Seed-compatible entry point: ``python scripts/batch_evaluate.py`` = ``calibclip batch-evaluate`` (same flags).

Example:
    python scripts/batch_evaluate.py --checkpoint ckpt.pth --datasets cuhkpedes icfgpedes rstp \
        --data_roots /data/CUHK-PEDES /data/ICFG-PEDES /data/RSTPReid --output_dir results/batch/
"""
import sys

from calibclip.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["batch-evaluate", *sys.argv[1:]]))
