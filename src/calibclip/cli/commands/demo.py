"""``calibclip demo``: baseline vs calibrated vs composite on the bundled model and generated data."""
from __future__ import annotations

import argparse

from calibclip.cli.common import add_backbone_arg, add_device_arg, add_json_arg, print_json, print_table

HELP = "run the embedded default end to end (bundled tiny model + generated data) and write an HTML report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None,
                        help="report folder (default: the cache folder's report/, ~/.cache/calibclip/demo/report)")
    parser.add_argument("--cache-dir", default=None,
                        help="where the generated demo data is kept (default: ~/.cache/calibclip/demo)")
    add_backbone_arg(parser)
    add_device_arg(parser)
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    from calibclip.demo import METHODS, PEDES_COLUMNS, TIGR_COLUMNS, run_demo
    from calibclip.evaluation.report import metrics_table

    result = run_demo(args.out, args.backbone, args.device, args.cache_dir)
    if args.json:
        print_json(result.to_json())
        return 0
    for dataset, columns, title in (("pedes", PEDES_COLUMNS, "person retrieval, synthetic CUHK-PEDES format"),
                                    ("tigr", TIGR_COLUMNS, "compositional queries, synthetic TIGR format")):
        rows = metrics_table({m: result.metrics[m][dataset] for m in METHODS}, columns)
        print_table(rows, title=f"{title} ({result.info[dataset + '_queries']} queries, "
                                f"{result.info[dataset + '_gallery']} images)")
        print()
    print(f"report: {result.report}")
    if args.backbone == "tiny":
        print("note: 'tiny' is a demonstration model trained on synthetic drawings only")
    return 0
