"""The README table: plain CLIP, CalibCLIP, CsdCLIP and both, person and scene sets, fresh seeds, paired deltas.

The protocol (``calibclip.evaluation.method_study``): calibration uses the
backbone's own preset (chosen on a dev seed by ``scripts/ablate_calibration.py``)
and, beside it, the method's public-code values; the composite rows use the
library defaults and the rule rewriter, with the previous default, gold clauses
and an equal-cost random split beside them. Every row is mean ± std over the
seeds; Δ is paired per seed against the baseline.

Example:
    python scripts/measure_methods.py --backbone tiny-web --seeds 5301 5302 5303 --json tiny-web.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from calibclip.backbones import load_backbone
from calibclip.cli.common import format_table, run_script
from calibclip.evaluation.method_study import StudyData, run_method_study


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="tiny", help="backbone spec (default: the bundled tiny model)")
    p.add_argument("--seeds", type=int, nargs="+", default=[5301, 5302, 5303], help="fresh test-set seeds")
    p.add_argument("--ids", type=int, default=450, help="identities per person set (test split: 2/9)")
    p.add_argument("--style", default="heldout", help="drawing style of both sets (classic | train | heldout)")
    p.add_argument("--lookalike-group", type=int, default=4, help="people per look-alike group (0: none)")
    p.add_argument("--scale", default="default", help="scene set scale (small | default)")
    p.add_argument("--lang", default="en", choices=["en", "zh"])
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/method_study"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", type=Path, help="write every number here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = StudyData(str(args.data_dir), args.ids, {"style": args.style, "lookalike_group": args.lookalike_group},
                     args.scale, args.style, args.lang)
    result = run_method_study(load_backbone(args.backbone, args.device), data, args.seeds, workers=args.workers)
    for kind in ("person", "scene"):
        print(f"{args.backbone}, {kind} set ({args.style} drawings, {args.lang}), seeds {args.seeds}: "
              f"mean ± std over seeds, Δ paired per seed")
        print(format_table([{k: v for k, v in row.items() if not k.startswith("_")} for row in result[kind]]))
        print()
    if args.json:
        args.json.write_text(json.dumps({"backbone": args.backbone, **result}, indent=1))
    return 0


if __name__ == "__main__":
    run_script(main)
