"""``calibclip demo``: baseline vs calibrated vs composite on the bundled models and generated data."""
from __future__ import annotations

import argparse

from calibclip.cli.common import add_device_arg, add_json_arg, print_json, print_table

HELP = ("run the embedded default end to end (the bundled tiny and tiny-web models on generated data) "
        "and write an HTML report")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None,
                        help="report folder (default: the cache folder's report/, ~/.cache/calibclip/demo/report)")
    parser.add_argument("--cache-dir", default=None,
                        help="where the generated demo data is kept (default: ~/.cache/calibclip/demo)")
    parser.add_argument("--backbone", "-m", action="append", default=None,
                        help="backbone spec to run (repeatable; default: tiny and tiny-web)")
    add_device_arg(parser)
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    from calibclip.demo import DEMO_BACKBONES, run_demo
    from calibclip.evaluation.method_study import PERSON_METRICS, SCENE_METRICS
    from calibclip.evaluation.report import metrics_table

    result = run_demo(args.out, tuple(args.backbone or DEMO_BACKBONES), args.device, args.cache_dir)
    if args.json:
        print_json(result.to_json())
        return 0
    info = result.info
    print(f"person set: {info['pedes_queries']} captions over {info['pedes_gallery']} images, look-alikes in groups "
          f"of {info['lookalike_group']}; scene set: {info['tigr_queries']} queries over {info['tigr_gallery']} "
          f"images; both drawn in the '{info['drawing_style']}' style no model was trained on\n")
    for spec, model in result.models.items():
        print(f"{spec}: diagnosis: {model['verdict']}")
        for dataset, columns, title in (("pedes", PERSON_METRICS, "person retrieval"),
                                        ("tigr", SCENE_METRICS, "compositional queries")):
            print_table(metrics_table(model[dataset], columns), title=f"{spec}, {title}")
            print()
    print(f"report: {result.report}")
    if set(result.models) & set(DEMO_BACKBONES):
        print("note: tiny and tiny-web are demonstration models trained on synthetic drawings only")
    return 0
