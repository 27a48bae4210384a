"""Seed-compatible entry point: ``python tools/train.py`` = ``calibclip train`` (same engine, same flags).

Example:
    python tools/train.py --config configs/cuhkpedes.yaml \
        --data_root /path/to/CUHK-PEDES --output_dir outputs/
"""
import sys

from calibclip.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
