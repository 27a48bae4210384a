"""``calibclip batch-evaluate``: one model over several person-retrieval datasets, one table.

The seed's ``scripts/batch_evaluate.py`` flags work as written::

    calibclip batch-evaluate --checkpoint ckpt.pth --datasets cuhkpedes icfgpedes rstp \\
        --data_roots /data/CUHK-PEDES /data/ICFG-PEDES /data/RSTPReid --output_dir results/batch/

Each folder's layout is detected (CUHK-PEDES, ICFG-PEDES, RSTPReid files, or the seed's
``imgs/`` + ``annotations/``) unless ``--layout`` forces one (one for all, or one per dataset).
Every dataset is loaded (and checked) before the model is built; the model is
built once. ``--output_dir`` gets ``<dataset>/metrics.json`` per dataset plus
``summary.json`` and ``summary.md`` over all of them.
"""
from __future__ import annotations

import argparse
import dataclasses

from calibclip.cli.commands.evaluate import (add_model_args, config_from_args, evaluate_root, metric_rows,
                                             model_from_args, write_outputs)
from calibclip.cli.common import add_json_arg, print_json, print_table

HELP = "evaluate one model on several person-retrieval datasets (cuhkpedes icfgpedes rstp) into one table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from calibclip.calibration.seed_config import DATASET_NAMES
    from calibclip.datasets.pedes import LAYOUTS

    add_model_args(parser)
    parser.add_argument("--datasets", nargs="+", required=True, choices=DATASET_NAMES,
                        help="dataset names, in the order of --data_roots")
    parser.add_argument("--data_roots", "--data-roots", nargs="+", required=True, help="one folder per dataset")
    parser.add_argument("--layout", dest="layouts", nargs="+", choices=sorted(LAYOUTS), default=None,
                        help="force the layout: one for every dataset, or one per dataset (default: detected)")
    parser.add_argument("--output_dir", "--output-dir", help="write per-dataset metrics and summary.{json,md} here")
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    from calibclip.datasets.pedes import load_pedes
    from calibclip.errors import ConfigError
    from calibclip.evaluation.report import write_json, write_markdown_table

    if len(args.datasets) != len(args.data_roots):
        raise ConfigError(f"{len(args.datasets)} --datasets but {len(args.data_roots)} --data_roots",
                          "give one folder per dataset, in the same order")
    layouts = _layouts(args.layouts, len(args.datasets))
    base = config_from_args(args)
    configs = [dataclasses.replace(base, dataset=dataclasses.replace(base.dataset, name=name, layout=layout))
               for name, layout in zip(args.datasets, layouts)]
    splits = [load_pedes(root, cfg.dataset.split, cfg.dataset.layout) for cfg, root in zip(configs, args.data_roots)]
    model = model_from_args(args, base)
    reports, rows = [], []
    for cfg, root, split in zip(configs, args.data_roots, splits):
        report, _ = evaluate_root(model, cfg, root, args.checkpoint, split)
        reports.append(report)
        rows += [{"dataset": cfg.dataset.name, **row} for row in metric_rows(report)]
        if args.output_dir:
            write_outputs(f"{args.output_dir}/{cfg.dataset.name}", report, cfg)
    if args.output_dir:
        write_json(f"{args.output_dir}/summary.json", {"datasets": reports})
        write_markdown_table(f"{args.output_dir}/summary.md", rows)
    if args.json:
        print_json({"datasets": reports})
    else:
        print_table(rows, title=f"backbone {base.backbone}" + (f", checkpoint {args.checkpoint}"
                                                              if args.checkpoint else ""))
    return 0


def _layouts(forced: list[str] | None, count: int) -> list[str | None]:
    """``--layout``: nothing (detect each folder), one layout for all, or one per dataset."""
    from calibclip.errors import ConfigError

    if not forced:
        return [None] * count
    if len(forced) not in (1, count):
        raise ConfigError(f"{len(forced)} --layout values for {count} --datasets",
                          "give one layout for all datasets, or one per dataset")
    return forced * count if len(forced) == 1 else list(forced)
