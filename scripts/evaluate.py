"""Seed-compatible entry point: ``python scripts/evaluate.py`` = ``calibclip evaluate`` (same flags).

Example:
    python scripts/evaluate.py --config configs/cuhkpedes.yaml --checkpoint ckpt.pth \
        --data_root /path/to/CUHK-PEDES --output_dir results/
"""
import sys

from calibclip.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
