"""Seed-compatible interactive demo: ``python scripts/demo.py`` = ``calibclip query`` (same flags).

Example:
    python scripts/demo.py --config configs/cuhkpedes.yaml --checkpoint ckpt.pth \
        --image_dir /path/to/images --query "A woman wearing a red dress"
"""
import sys

from calibclip.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["query", *sys.argv[1:]]))
