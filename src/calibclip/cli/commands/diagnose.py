"""``calibclip diagnose``: does calibration have anything to correct on this backbone?"""
from __future__ import annotations

import argparse

from calibclip.cli.common import add_backbone_arg, add_device_arg, add_json_arg, print_json, print_table

HELP = "measure whether a backbone has what CVE (register tokens) and DCC (attention on general words) correct"

DEFAULT_SEED = 4242  # a synthetic person set never used for training or tuning


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_backbone_arg(parser)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", help="a person-retrieval dataset root (any supported layout; its test split)")
    source.add_argument("--images", help="a folder of images (vision side only, unless --captions is given)")
    parser.add_argument("--captions", help="a text file, one caption per line (text side, no retrieval change)")
    parser.add_argument("--max-images", type=int, default=256, help="images measured (default: 256)")
    parser.add_argument("--no-cache", action="store_true", help="do not cache the verdicts for CalibratedRetriever")
    add_device_arg(parser)
    add_json_arg(parser)


def _default_data() -> str:
    """Without --data/--images: a small generated person set (cached)."""
    from calibclip.datasets.generated import default_data_dir, ensure_pedes

    return str(ensure_pedes(default_data_dir(), DEFAULT_SEED, ids=90))


def run(args: argparse.Namespace) -> int:
    from calibclip.backbones import load_backbone
    from calibclip.calibration.diagnosis_cache import save_diagnosis
    from calibclip.evaluation.diagnose import diagnose, load_data

    data_root = args.data or (None if args.images or args.captions else _default_data())
    data = load_data(data_root, args.images, args.captions, args.max_images)
    backbone = load_backbone(args.backbone, args.device)
    report = diagnose(backbone, data)
    if not args.no_cache:
        save_diagnosis(backbone, report.verdicts)
    if args.json:
        print_json(report.to_json())
        return 0
    print(f"backbone {report.backbone} on {report.data}\n")
    if report.vision:
        print_table([v.row() for v in report.vision], title="vision, per block (norms: x median; shares: %)")
        print()
    if report.text:
        rows = [{"captions": report.text.captions, "spearman": report.text.spearman,
                 "top_is_general": report.text.top_is_general, "dominated": report.text.dominated,
                 **report.text.recall_at_1}]
        print_table(rows, title="text (attention vs document frequency; shares in %; R@1 of the dominated "
                                "captions, with one word masked)")
        print()
    for method, verdict in report.verdicts.items():
        state = {True: "applies", False: "nothing to correct", None: "not measured"}[verdict["applies"]]
        print(f"{method.upper()}: {state} — {verdict['reason']}")
    return 0
