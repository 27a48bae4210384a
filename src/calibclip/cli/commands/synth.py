"""``calibclip synth pedes|tigr``: generate synthetic benchmarks in the real formats."""
from __future__ import annotations

import argparse

from calibclip.cli.common import add_json_arg, print_summary

HELP = "generate a synthetic person-retrieval (pedes) or compositional (tigr) benchmark"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=["pedes", "tigr"], help="which benchmark to generate")
    parser.add_argument("--out", required=True, help="output directory (created)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (output is deterministic per seed)")
    parser.add_argument("--scale", choices=["small", "default"], default="default", help="dataset size preset")
    parser.add_argument("--ids", type=int, default=None, help="pedes: number of identities (overrides --scale)")
    parser.add_argument("--layouts", default="cuhkpedes",
                        help="pedes: comma list of cuhkpedes,icfgpedes,rstpreid,annotations (default: cuhkpedes)")
    parser.add_argument("--lang", default=None,
                        help="tigr: comma list of languages (default: en,zh); pedes: the captions' language (en or zh)")
    parser.add_argument("--style", choices=["classic", "train", "heldout"], default="classic",
                        help="drawing style family (default: classic; train/heldout vary the drawing, disjointly)")
    parser.add_argument("--lookalike-group", type=int, default=0,
                        help="pedes: identities in groups of N sharing gender, garment and its colour")
    parser.add_argument("--salient-share", type=float, default=0.0,
                        help="pedes: share of captions that name only the subject and garment (web style)")
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    if args.kind == "pedes":
        from calibclip.datasets.synthetic_pedes import PedesOptions, generate_pedes

        options = PedesOptions(style=args.style, lookalike_group=args.lookalike_group, lang=args.lang or "en",
                               salient_share=args.salient_share)
        summary = generate_pedes(args.out, seed=args.seed, ids=args.ids, scale=args.scale,
                                 layouts=tuple(s.strip() for s in args.layouts.split(",") if s.strip()),
                                 options=options)
    else:
        from calibclip.datasets.synthetic_tigr import generate_tigr

        summary = generate_tigr(args.out, seed=args.seed, scale=args.scale, style=args.style,
                                langs=tuple(s.strip() for s in (args.lang or "en,zh").split(",") if s.strip()))
    print_summary(summary, args.json)
    return 0
