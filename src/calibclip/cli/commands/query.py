"""``calibclip query``: rank the images of a folder for one description, baseline vs CalibCLIP.

The seed's interactive demo (``scripts/demo.py``)::

    calibclip query --config configs/cuhkpedes.yaml --checkpoint ckpt.pth \\
        --image_dir /path/to/images --query "A woman wearing a red dress"

A thin alias of ``calibclip index`` + ``calibclip search --calibrate`` over a
temporary database (the same code path; use those two to search a folder more
than once). Prints the calibrated top-k with each image's plain-CLIP rank
beside it; ``--explain DIR`` writes a heatmap overlay per result (the patches
CVE suppressed) and the query words DCC masked. Unreadable images are skipped
and left out of the count (``-v`` or ``--json`` names them).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from calibclip.cli.commands.evaluate import add_model_args, config_from_args, model_from_args
from calibclip.cli.common import add_json_arg, print_json, print_table

HELP = "rank the images of a folder for a text query: CalibCLIP rank vs plain CLIP rank"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_args(parser)
    parser.add_argument("--image_dir", "--image-dir", required=True, help="folder of images (searched recursively)")
    parser.add_argument("--query", "-q", required=True, help="the description to search for")
    parser.add_argument("--top_k", "--top-k", "-k", type=int, default=10, help="results shown (default: 10)")
    parser.add_argument("--explain", metavar="DIR", help="write a heatmap overlay per result into DIR")
    add_json_arg(parser)


def _nothing_searchable(summary, args: argparse.Namespace) -> Exception:
    from calibclip.datasets.images import IMAGE_SUFFIXES
    from calibclip.errors import DatasetLayoutError

    if not summary.skipped:
        return DatasetLayoutError(f"no images in {summary.root}", f"supported: {', '.join(sorted(IMAGE_SUFFIXES))}")
    first, reason = sorted(summary.skipped.items())[0]
    if args.json:
        print_json({"query": args.query, "searched_images": 0, "skipped": summary.skipped, "results": []})
    elif args.verbose:
        print_table([{"skipped": p, "reason": r} for p, r in sorted(summary.skipped.items())])
    return DatasetLayoutError(f"none of the {len(summary.skipped)} image file(s) in {summary.root} could be read; "
                              f"first: {first}: {reason}", "-v or --json lists them all")


def run(args: argparse.Namespace) -> int:
    from calibclip.calibration.dcc import check_texts
    from calibclip.errors import BadQuery
    from calibclip.search import ephemeral_searcher

    if args.top_k < 1:
        raise BadQuery(f"--top_k must be at least 1, got {args.top_k}")
    check_texts([args.query])
    cfg = config_from_args(args)
    model = model_from_args(args, cfg)
    backbone = getattr(model, "backbone", model)
    with ephemeral_searcher(args.image_dir, backbone, cfg.calibration, cfg.evaluation.batch_size) as (searcher, summary):
        if summary.total == 0:
            raise _nothing_searchable(summary, args)
        result = searcher.search(args.query, k=args.top_k, calibrate=True)
        rows = [{"rank": h.rank, "image": h.path, "score": h.score, "baseline_rank": h.baseline_rank,
                 "baseline_score": h.baseline_score} for h in result.hits]
        written = _explain(searcher, args.query, result.hits, rows, args.explain) if args.explain else []
    _render(args, result, rows, summary, written)
    return 0


def _explain(searcher, query: str, hits, rows: list[dict], folder: str) -> list[Path]:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for hit, row in zip(hits, rows):
        path = out / f"{hit.rank:03d}_{Path(hit.path).stem}.png"
        searcher.explain(query, hit.id).overlay.save(path)
        row["overlay"] = str(path)
    return [Path(r["overlay"]) for r in rows]


def _render(args: argparse.Namespace, result, rows: list[dict], summary, written: list[Path]) -> None:
    if args.json:
        print_json({"query": args.query, "masked_words": result.masked_words, "searched_images": summary.total,
                    "skipped_images": len(summary.skipped), "skipped": summary.skipped, "results": rows})
        return
    shown = [{**row, "score": f"{row['score']:.4f}", "baseline_score": f"{row['baseline_score']:.4f}"}
             for row in rows]
    print_table(shown, columns=["rank", "score", "baseline_rank", "baseline_score", "image"],
                title=f"{args.query!r} over {summary.total} images "
                      f"(DCC masked: {', '.join(result.masked_words) or 'nothing'})")
    if summary.skipped:
        print(f"note: {len(summary.skipped)} unreadable image(s) skipped" + ("" if args.verbose else " (-v lists them)"))
        if args.verbose:
            print_table([{"skipped": p, "reason": r} for p, r in sorted(summary.skipped.items())])
    if written:
        print(f"wrote {len(written)} overlay(s) to {args.explain}")
