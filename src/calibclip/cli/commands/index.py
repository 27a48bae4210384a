"""``calibclip index``: index a folder of images into a database, incrementally.

    calibclip index ~/Pictures --db photos.db [--backbone tiny] [--batch-size 32] [--workers 2]

A second run over an unchanged folder encodes nothing; new, changed and deleted
files are handled; unreadable files are skipped, counted and listed
(``--errors FILE`` writes them all). ``--index ivfpq`` serves large collections
from a FAISS IVF-PQ index; ``--check`` reports its recall against exact search.
``--ray`` reads and encodes on a Ray cluster and merges the shards it writes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from calibclip.cli.common import (add_device_arg, add_json_arg, add_threads_arg, apply_threads, print_json,
                                  print_table)

HELP = "index a folder of images into a search database (incremental, resumable)"
SHOWN_SKIPS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="DIR", help="folder of images (searched recursively)")
    parser.add_argument("--db", required=True, help="the index database (created if missing)")
    parser.add_argument("--backbone", "-m", default=None,
                        help="backbone spec: tiny | openclip:ARCH:TAG|PATH|none | hf:DIR | ... "
                             "(default: the database's own, tiny for a new one)")
    parser.add_argument("--batch-size", "--batch_size", type=int, default=32, help="images per batch (default: 32)")
    parser.add_argument("--workers", type=int, default=2, help="decoding processes (default: 2; 0 = none)")
    add_device_arg(parser)
    add_threads_arg(parser)
    parser.add_argument("--index", choices=["exact", "ivfpq"], default=None, dest="kind",
                        help="vector search: exact (default for a new database) or FAISS IVF-PQ")
    parser.add_argument("--check", action="store_true", help="report search recall@10 against exact search")
    parser.add_argument("--errors", metavar="FILE", help="write every skipped file and its reason (TSV)")
    ray = parser.add_argument_group("scale-out (Ray Data; see docs/guides/scale-out.md)")
    ray.add_argument("--ray", action="store_true",
                     help="read and encode with Ray Data actors (--workers of them), merge their shards here")
    ray.add_argument("--ray-address", metavar="ADDR", help="Ray cluster to join (auto, ray://host:10001; "
                                                             "default: a local cluster)")
    ray.add_argument("--shards", metavar="DIR", help="where the Parquet shards go (every node must reach it; "
                                                      "default: a temporary folder beside --db)")
    ray.add_argument("--ray-gpus", type=float, default=0, metavar="N", help="GPUs per encoding actor (default: 0)")
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    from calibclip.errors import ConfigError
    from calibclip.index.indexer import Indexer

    if args.batch_size < 1 or args.workers < 0:
        raise ConfigError("--batch-size must be at least 1 and --workers at least 0",
                          f"got --batch-size {args.batch_size} --workers {args.workers}")
    apply_threads(args)
    options = dict(batch_size=args.batch_size, workers=args.workers, kind=args.kind)
    if args.ray:
        from calibclip.index.distributed import RayIndexer

        indexer = RayIndexer(args.db, args.backbone, args.device, address=args.ray_address, shards=args.shards,
                             gpus_per_worker=args.ray_gpus, **options)
    else:
        indexer = Indexer(args.db, args.backbone, args.device, **options)
    summary = indexer.run(args.folder, check=args.check)
    if args.errors:
        Path(args.errors).write_text("".join(f"{p}\t{r}\n" for p, r in sorted(summary.skipped.items())),
                                     encoding="utf-8")
    if args.json:
        print_json(summary)
        return 0
    _print_summary(summary, args)
    return 0


def _print_summary(summary, args: argparse.Namespace) -> None:
    rate = f" ({summary.images_per_second:.1f} img/s)" if summary.encoded else ""
    print(f"indexed {summary.root} into {args.db} (backbone {summary.backbone}, {summary.kind} search)")
    rows = [{"files": name, "count": getattr(summary, name)}
            for name in ("added", "updated", "removed", "unchanged", "encoded", "reused")]
    rows += [{"files": "skipped", "count": len(summary.skipped)}, {"files": "ignored", "count": summary.ignored},
             {"files": "in index", "count": summary.total}]
    print_table(rows)
    print(f"took {summary.seconds:.1f} s{rate}")
    if summary.check:
        print(f"recall@{summary.check.get('k', 10)}: {summary.check['recall']:.3f} ({summary.check['kind']})")
    if summary.skipped:
        items = sorted(summary.skipped.items())
        print_table([{"skipped": p, "reason": r} for p, r in items[:SHOWN_SKIPS]])
        if len(items) > SHOWN_SKIPS:
            print(f"... and {len(items) - SHOWN_SKIPS} more" + (f" (all in {args.errors})" if args.errors else
                                                                "; --errors FILE lists them all"))
