"""Time each stage of one composite query (3 AND + 1 NOT) against plain search on a synthetic gallery.

Example:
    python scripts/profile_composite.py --backbone openclip:ViT-B-16:none --gallery 1000000 --threads 1
"""
from __future__ import annotations

import argparse
import json

import torch

from calibclip.backbones import load_backbone
from calibclip.bench.stages import composite_stages


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="tiny")
    p.add_argument("--gallery", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(json.dumps(composite_stages(load_backbone(args.backbone, torch.device("cpu")), args.gallery, args.repeats),
                     indent=1))


if __name__ == "__main__":
    main()
