"""``calibclip evaluate``: person retrieval on one dataset, plain CLIP vs CalibCLIP side by side.

The seed's ``scripts/evaluate.py`` flags work as written::

    calibclip evaluate --config configs/cuhkpedes.yaml --checkpoint ckpt.pth \\
        --data_root /data/CUHK-PEDES --output_dir results/

``--backbone SPEC`` evaluates any backbone instead (``--backbone tiny:none`` is
a random model, for smoke tests). ``--output_dir`` gets ``metrics.json`` and the
resolved config, ``--dump DIR`` the score matrices and person ids.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from calibclip.cli.common import add_device_arg, add_json_arg, print_json, print_table

HELP = "evaluate text-based person retrieval (R@1/5/10, mAP, mINP): baseline vs CalibCLIP"


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """Config, weights and device flags (shared with ``batch-evaluate`` and ``query``)."""
    parser.add_argument("--config", help="seed YAML config, e.g. configs/cuhkpedes.yaml (default: built-in base)")
    parser.add_argument("--checkpoint", help="weights of the calibclip model: ours, OpenAI/open_clip CLIP "
                                             "ViT-B/16, or IRRA ('none': random weights)")
    parser.add_argument("--backbone", "-m", default=None,
                        help="evaluate this backbone spec instead of the calibclip model "
                             "(tiny | openclip:ARCH:TAG|PATH | hf:DIR | ...)")
    parser.add_argument("--batch_size", "--batch-size", type=int, default=None,
                        help="encoder batch size (default: the config's evaluation.batch_size)")
    add_device_arg(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from calibclip.datasets.pedes import LAYOUTS

    add_model_args(parser)
    parser.add_argument("--data_root", "--data-root", required=True, help="the dataset folder")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default=None,
                        help="dataset layout (default: the config's dataset.layout, else detected)")
    parser.add_argument("--split", choices=("train", "val", "test"), default=None,
                        help="split to evaluate (default: the config's, test)")
    parser.add_argument("--output_dir", "--output-dir", help="write metrics.json and resolved.yaml here")
    parser.add_argument("--dump", metavar="DIR", help="write sims_baseline.npy, sims_calibrated.npy, labels.json")
    add_json_arg(parser)


def config_from_args(args: argparse.Namespace):
    """The seed config with the command-line overrides applied (YAML → flags)."""
    from calibclip.calibration.seed_config import load_seed_config
    from calibclip.config import apply_overrides

    cfg = load_seed_config(args.config)
    dataset = apply_overrides(cfg.dataset, {"layout": getattr(args, "layout", None),
                                            "split": getattr(args, "split", None)})
    return dataclasses.replace(cfg, backbone=args.backbone or cfg.backbone, dataset=dataset,
                               evaluation=apply_overrides(cfg.evaluation, {"batch_size": args.batch_size}))


def model_from_args(args: argparse.Namespace, cfg):
    """``load_seed_model`` with the ``--checkpoint`` and ``--device`` flags."""
    from calibclip.calibration.model import load_seed_model

    return load_seed_model(cfg, args.checkpoint, args.device)


def evaluate_root(model, cfg, root: str, checkpoint: str | None, split=None,
                  dump: str | None = None) -> tuple[dict[str, Any], Any]:
    """Evaluate one dataset folder → (report dict for metrics.json, ``PedesEvaluation``).

    Score matrices stream (memory does not grow with queries × images); ``dump`` writes them there.
    """
    from calibclip.calibration.presets import resolved_report
    from calibclip.datasets.pedes import load_pedes
    from calibclip.evaluation.evaluator import evaluate_pedes

    split = split or load_pedes(root, cfg.dataset.split, cfg.dataset.layout)
    result = evaluate_pedes(model, split, cfg.calibration, cfg.evaluation.batch_size, keep_scores=False,
                            scores_dir=dump)
    report = {"dataset": cfg.dataset.name, "data_root": str(root), "layout": split.layout, "split": split.split,
              "backbone": cfg.backbone, "checkpoint": checkpoint, "num_queries": len(result.query_pids),
              "num_images": len(split.image_paths), "skipped_images": len(result.skipped_images),
              "blank_captions": result.blank_captions, **result.metrics,
              "calibration": resolved_report(cfg.calibration, getattr(model, "backbone", model))}
    return report, result


def write_outputs(folder: str | Path, report: dict[str, Any], cfg) -> list[Path]:
    """``metrics.json`` + ``resolved.yaml`` (the config actually used) in ``folder``."""
    import yaml

    from calibclip.calibration.seed_config import seed_config_dict
    from calibclip.evaluation.report import write_json

    folder = Path(folder)
    metrics = write_json(folder / "metrics.json", report)
    resolved = folder / "resolved.yaml"
    data = seed_config_dict(cfg)
    if "calibration" in report:  # the knobs actually used: explicit, else the backbone's preset, else defaults
        data["calibration"] = report["calibration"]["values"]
    resolved.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return [metrics, resolved]


def metric_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Baseline, calibrated and the difference, one row each (``metrics_table``)."""
    from calibclip.evaluation.evaluator import METRIC_KEYS
    from calibclip.evaluation.report import metrics_table

    return metrics_table({"baseline": report["baseline"], "calibrated": report["calibrated"]}, METRIC_KEYS)


def run(args: argparse.Namespace) -> int:
    from calibclip.datasets.pedes import load_pedes

    cfg = config_from_args(args)
    split = load_pedes(args.data_root, cfg.dataset.split, cfg.dataset.layout)  # bad data fails before the model
    cfg = dataclasses.replace(cfg, dataset=dataclasses.replace(cfg.dataset, layout=split.layout))
    model = model_from_args(args, cfg)
    report, result = evaluate_root(model, cfg, args.data_root, args.checkpoint, split, args.dump)
    written = write_outputs(args.output_dir, report, cfg) if args.output_dir else []
    written += result.save_scores(args.dump) if args.dump else []
    if args.json:
        print_json(report)
        return 0
    print_table(metric_rows(report), title=f"{report['dataset']} ({report['layout']}, {report['split']}): "
                f"{report['num_queries']} queries, {report['num_images']} images, backbone {cfg.backbone}")
    if report["skipped_images"]:
        print(f"note: {report['skipped_images']} unreadable image(s) ranked last")
    if report["blank_captions"]:
        print(f"note: {report['blank_captions']} blank caption(s) left out of the queries")
    for path in written:
        print(f"wrote {path}")
    return 0
