"""``calibclip bench``: speed of the methods against plain CLIP, index build, search and storage, in one run.

    calibclip bench --backbone openclip:ViT-B-16:none --gallery 10000 100000 1000000 --json

Prints one row per measurement (plain figure, method figure, ratio) and the
issue's targets; ``--json`` prints the whole report, ``--output`` also writes it.
"""
from __future__ import annotations

import argparse

from calibclip.cli.common import add_backbone_arg, add_device_arg, add_json_arg, print_json, print_table

HELP = "measure method overhead vs plain CLIP, index build, exact search vs FAISS and storage (ratios + figures)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_backbone_arg(parser)
    add_device_arg(parser)
    parser.add_argument("--gallery", type=int, nargs="+", default=[100_000], metavar="N",
                        help="synthetic gallery sizes for the query/search rows (default: 100000; up to 10M)")
    parser.add_argument("--queries", type=int, default=5, help="distinct composite queries per gallery (default: 5)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement (default: 3)")
    parser.add_argument("--photos", type=int, default=64, help="JPEG photos for the index-build row (default: 64)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per encoder batch (default: 16)")
    parser.add_argument("--workers", type=int, default=2,
                        help="the index's decoding worker processes for the index-build row (default: 2)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch and FAISS threads (default: 0 = torch's default, one per core)")
    parser.add_argument("--output", "-o", metavar="FILE", help="also write the JSON report to FILE")
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from calibclip.bench import BenchConfig, run_bench
    from calibclip.evaluation.report import write_json

    report = run_bench(BenchConfig(backbone=args.backbone, device=args.device, galleries=tuple(args.gallery),
                                   queries=args.queries, repeats=args.repeats, photos=args.photos,
                                   image_batch=args.batch_size, workers=args.workers, threads=args.threads))
    if args.output:
        write_json(Path(args.output), report)
    if args.json:
        print_json(report)
    else:
        render(report)
    return 0


def render(report: dict) -> None:
    """The measurements (plain, method, ratio), then the issue's targets, then peak memory."""
    from calibclip.bench import table_rows

    env = report["environment"]
    print_table(table_rows(report), title=f"{report['backbone']} on {env['gpu'] or 'CPU'} "
                f"({env['cpu_count']} cores, {env['torch_threads']} torch threads)")
    print()
    print_table([{**t, "value": round(t["value"], 2), "met": "yes" if t["met"] else "no"} for t in report["targets"]],
                columns=["target", "bound", "value", "met", "at"])
    gpu = report["memory"]["gpu_peak_mb"]
    print(f"\npeak RSS {report['memory']['peak_rss_mb']:.0f} MiB" + (f", GPU {gpu:.0f} MiB" if gpu else ""))
