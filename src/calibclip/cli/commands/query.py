"""``calibclip query``: rank the images of a folder for one description, baseline vs CalibCLIP.

The seed's interactive demo (``scripts/demo.py``)::

    calibclip query --config configs/cuhkpedes.yaml --checkpoint ckpt.pth \\
        --image_dir /path/to/images --query "A woman wearing a red dress"

Prints the calibrated top-k with each image's plain-CLIP rank beside it;
``--explain DIR`` writes a heatmap overlay per result (the patches CVE
suppressed) and the query words DCC masked.
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


def _list_images(folder: str) -> list[Path]:
    from calibclip.datasets.images import IMAGE_SUFFIXES
    from calibclip.errors import DatasetLayoutError

    root = Path(folder)
    if not root.is_dir():
        raise DatasetLayoutError(f"image folder not found: {root}", "check the --image_dir path")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise DatasetLayoutError(f"no images in {root}", f"supported: {', '.join(sorted(IMAGE_SUFFIXES))}")
    return paths


def _rank(backbone, cfg, paths: list[Path], query: str, top_k: int) -> tuple[list[dict], list[str], int]:
    """Top-k rows (calibrated order, with the baseline rank), the masked words, and the unreadable count."""
    from calibclip.calibration.retriever import CalibratedRetriever, score_features
    from calibclip.evaluation.metrics import rank_gallery

    retriever = CalibratedRetriever(backbone, cfg.calibration)
    gallery = retriever.encode_gallery(paths, cfg.evaluation.batch_size)
    queries = retriever.encode_queries([query])
    scores = score_features(queries, gallery, retriever.cfg)
    baseline_rank = {int(i): r + 1 for r, i in enumerate(rank_gallery(scores["baseline"])[0])}
    readable = [int(i) for i in rank_gallery(scores["calibrated"])[0] if int(i) not in gallery.report.skipped]
    rows = [{"rank": r + 1, "image": str(paths[i]), "score": float(scores["calibrated"][0, i]),
             "baseline_rank": baseline_rank[i], "baseline_score": float(scores["baseline"][0, i])}
            for r, i in enumerate(readable[:top_k])]
    return rows, queries.masked_words[0], len(gallery.report.skipped)


def _explain(backbone, cfg, query: str, rows: list[dict], folder: str) -> list[Path]:
    from calibclip.calibration.explain import explain

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for row in rows:
        path = out / f"{row['rank']:03d}_{Path(row['image']).stem}.png"
        explain(backbone, query, row["image"], cfg.calibration).overlay.save(path)
        row["overlay"] = str(path)
        written.append(path)
    return written


def run(args: argparse.Namespace) -> int:
    from calibclip.calibration.dcc import check_texts
    from calibclip.errors import BadQuery

    if args.top_k < 1:
        raise BadQuery(f"--top_k must be at least 1, got {args.top_k}")
    check_texts([args.query])
    cfg = config_from_args(args)
    paths = _list_images(args.image_dir)
    model = model_from_args(args, cfg)
    backbone = getattr(model, "backbone", model)
    rows, masked, skipped = _rank(backbone, cfg, paths, args.query, args.top_k)
    written = _explain(backbone, cfg, args.query, rows, args.explain) if args.explain else []
    if args.json:
        print_json({"query": args.query, "masked_words": masked, "skipped_images": skipped, "results": rows})
        return 0
    shown = [{**row, "score": f"{row['score']:.4f}", "baseline_score": f"{row['baseline_score']:.4f}"}
             for row in rows]
    print_table(shown, columns=["rank", "score", "baseline_rank", "baseline_score", "image"],
                title=f"{args.query!r} over {len(paths)} images (DCC masked: {', '.join(masked) or 'nothing'})")
    if skipped:
        print(f"note: {skipped} unreadable image(s) skipped")
    if written:
        print(f"wrote {len(written)} overlay(s) to {args.explain}")
    return 0
