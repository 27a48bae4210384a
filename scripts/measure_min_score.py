"""Measure the --min-score scale: the match of present and absent descriptions, per cutoff S.

For each seed a folder of drawn pedestrians is made whose dominant garment is red, blue or
black only. "Present" queries are one caption of each of the first ``--queries`` people (the
described image must come back); "absent" queries describe people in green, white, yellow or
purple garments (nothing should come back). For each cutoff S the table gives the share of
present queries whose own image has match >= S, and the share of absent queries for which any
image does (a false "something matches").

Example:
    python scripts/measure_min_score.py --backbone tiny --seeds 3 4 5
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from calibclip.backbones import load_backbone
from calibclip.cli.common import format_table
from calibclip.datasets.synthetic_pedes import draw_people_folder
from calibclip.index.indexer import index_folder
from calibclip.search import Searcher

PRESENT_COLOURS = ("red", "blue", "black")
ABSENT = ("a woman in a green dress with a yellow handbag", "a man in a white coat and green trousers",
          "a woman wearing a green coat", "a man in a white t-shirt with a purple backpack",
          "a woman in a white dress", "a man in a yellow top and green shorts", "a woman in a purple coat",
          "a man wearing a green jacket and black shoes")
CUTOFFS = (0.0, 0.5, 1.0, 1.5, 2.0)


def measure(backbone, seed: int, people: int, queries: int) -> tuple[np.ndarray, np.ndarray]:
    """(own-image match of each present query, best match of each absent query) for one folder."""
    with tempfile.TemporaryDirectory() as tmp:
        drawn = draw_people_folder(Path(tmp) / "photos", people, seed, PRESENT_COLOURS)
        index_folder(Path(tmp) / "photos", Path(tmp) / "photos.db", backbone, workers=0)
        with Searcher(Path(tmp) / "photos.db", backbone=backbone) as searcher:
            present = [next(h.match for h in searcher.search(caption, k=people).hits if h.path == str(path))
                       for path, caption in drawn[:queries]]
            absent = [max(h.match for h in searcher.search(q, k=people).hits) for q in ABSENT]
    return np.array(present), np.array(absent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args(argv)
    backbone = load_backbone(args.backbone, "cpu")
    rows = []
    for seed in args.seeds:
        present, absent = measure(backbone, seed, args.people, args.queries)
        row = {"seed": seed, "present min": f"{present.min():.2f}", "present median": f"{np.median(present):.2f}",
               "absent max": f"{absent.max():.2f}"}
        for cut in CUTOFFS:
            row[f"S={cut:g} found / false"] = f"{(present >= cut).mean():.2f} / {(absent >= cut).mean():.2f}"
        rows.append(row)
    print(f"{args.backbone}: {args.queries} present and {len(ABSENT)} absent queries per folder of {args.people}")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
