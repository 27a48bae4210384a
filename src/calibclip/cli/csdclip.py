"""``csdclip``: the CsdCLIP seed command (also ``python model/model.py``).

    csdclip --model_name clip --model_scale ViT-B/16 --dataset_path DIR --gpu 0 --num_res 10

Runs plain retrieval (baseline) and composite search over the whole TIGR
gallery, prints the graded metrics side by side, and optionally writes the
per-query top results (``--output``) and the score matrices (``--dump``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from calibclip.cli.commands.rewrite import add_rewriter_args, rewriter_from_args
from calibclip.cli.common import add_json_arg, format_table, print_json

MODEL_NAMES = ("clip", "cnclip", "longclip", "fgclip", "tiny")
MODEL_SCALES = ("RN50", "ViT-B/16", "ViT-L/14")
_FGCLIP_HUB = {"ViT-B/16": "qihoo360/fg-clip-base", "ViT-L/14": "qihoo360/fg-clip-large"}


def model_spec(name: str, scale: str, weights: str | None = None) -> str:
    """Map the seed's ``--model_name/--model_scale`` (+ ``--weights``) onto a backbone spec string."""
    arch = scale.replace("/", "-")
    if name == "tiny":
        return f"tiny:{weights}" if weights else "tiny"
    if name == "clip":
        return f"openclip:{arch}:{weights or 'openai'}"
    if name == "cnclip":
        return f"cnclip:{arch}:{weights}" if weights else f"cnclip:{arch}"
    if name == "longclip":
        return f"longclip:{arch}:{weights}" if weights else f"longclip:{arch}"
    return f"fgclip:{weights or _FGCLIP_HUB.get(scale, _FGCLIP_HUB['ViT-B/16'])}"


def device_for(gpu: int) -> str:
    """``--gpu N`` → ``cuda:N`` when CUDA is available; ``-1`` or no CUDA → CPU."""
    import torch

    return f"cuda:{gpu}" if gpu >= 0 and torch.cuda.is_available() else "cpu"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csdclip", description="CsdCLIP composite search on a TIGR-format dataset: "
                                     "baseline vs composite, graded metrics (GRP, NIPR, nDCG, HR-Hit, R@k).")
    parser.add_argument("--model_name", default="clip", choices=MODEL_NAMES, help="CLIP family (default: clip)")
    parser.add_argument("--model_scale", default="ViT-B/16", choices=MODEL_SCALES, help="architecture")
    parser.add_argument("--weights", default=None, help="local weights file/folder instead of the family default")
    parser.add_argument("--dataset_path", required=True, help="TIGR folder (en_*.jsonl + lmdb/) or a jsonl file")
    parser.add_argument("--gpu", type=int, default=0, help="CUDA device index; -1 (or no CUDA) runs on CPU")
    parser.add_argument("--num_res", type=int, default=10, help="results kept per query; metrics also @num_res")
    parser.add_argument("--lang", choices=["en", "zh"], default="en", help="query language (default: en)")
    parser.add_argument("--calibrate", action="store_true", help="also CalibCLIP: the raw query calibrated, the clauses against CVE images")
    parser.add_argument("--config", default=None, help="YAML with 'composite:' / 'calibration:' knobs")
    parser.add_argument("--gallery_limit", type=int, default=None,
                        help="keep every HR/MR image plus distractors up to this many (quick runs)")
    parser.add_argument("--output", default=None, help="write per-query top results (jsonl)")
    parser.add_argument("--dump", default=None, help="write sims_*.npy, qrels.json and order.json to this folder")
    parser.add_argument("--workers", type=int, default=4, help="image decoding threads")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    add_json_arg(parser)
    add_rewriter_args(parser, default="gold")
    return parser


def _configs(path: str | None):
    from calibclip.config import CalibrationConfig, CompositeConfig, from_dict, read_yaml

    data = read_yaml(path) if path else {}
    return (from_dict(CompositeConfig, data.get("composite"), f"{path}:composite"),
            from_dict(CalibrationConfig, data.get("calibration"), f"{path}:calibration"))


def run(args: argparse.Namespace) -> int:
    from calibclip.backbones import load_backbone
    from calibclip.datasets.tigr import load_tigr
    from calibclip.errors import ConfigError
    from calibclip.evaluation.composite_eval import evaluate_tigr

    if args.num_res < 1:
        raise ConfigError(f"--num_res must be at least 1, got {args.num_res}")
    composite_cfg, calibration_cfg = _configs(args.config)
    tigr = load_tigr(args.dataset_path, args.lang, gallery_limit=args.gallery_limit)
    try:
        rewriter = rewriter_from_args(args, tigr.queries)
        spec = model_spec(args.model_name, args.model_scale, args.weights)
        backbone = load_backbone(spec, device_for(args.gpu))
        ks = tuple(sorted({1, 5, 10, args.num_res}))
        result = evaluate_tigr(backbone, tigr, rewriter, composite_cfg, ks,
                               calibration_cfg if args.calibrate else None, args.num_res, args.workers)
    finally:
        tigr.close()
    if args.output:
        _write_lines(Path(args.output), [json.dumps(row, ensure_ascii=False) for row in result["rows"]])
    if args.dump:
        _dump(Path(args.dump), tigr, result["scores"])
    _render(args, result, spec)
    return 0


def _render(args: argparse.Namespace, result: dict, spec: str) -> None:
    methods = list(result["scores"])
    if args.json:
        print_json({"info": {"backbone": spec, **result["info"]}, **{m: result[m] for m in methods}})
        return
    names = [k for k, v in result[methods[0]].items() if isinstance(v, float)]
    rows = []
    for name in names:
        row = {"metric": name, **{m: result[m][name] for m in methods}}
        row["Δ"] = result[methods[-1]][name] - result["baseline"][name]
        rows.append(row)
    info = result["info"]
    print(f"{spec} | {info['queries']} queries ({info['lang']}), gallery "
          f"{info['gallery']} ({info['skipped_images']} unreadable) | rewriter {info['rewriter']}")
    print(format_table(rows))


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    """Write a text file atomically (never a half-written file on failure)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _dump(folder: Path, tigr, scores: dict) -> None:
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    for name, matrix in scores.items():
        np.save(folder / f"sims_{name.replace('+', '_')}.npy", matrix.astype(np.float32))
    qrels = {q.text_id: {**{i: 0.5 for i in q.mr}, **{i: 1.0 for i in q.hr}} for q in tigr.queries}
    order = {"queries": [q.text_id for q in tigr.queries], "gallery": tigr.gallery_ids}
    _write_lines(folder / "qrels.json", [json.dumps(qrels, ensure_ascii=False)])
    _write_lines(folder / "order.json", [json.dumps(order, ensure_ascii=False)])


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    from calibclip.cli.main import run_command

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return run_command(run, args)


if __name__ == "__main__":
    sys.exit(main())
