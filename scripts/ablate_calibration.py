"""CalibCLIP on fresh synthetic person sets: every variant, paired deltas, and a backbone preset from a dev seed.

The protocol (``calibclip.evaluation.calibration_study``): the knobs are the
method's public-code values; a backbone preset is chosen on the dev seed only
(``--write-preset`` stamps it, with the dev captions' word frequencies and the
diagnosis verdicts, into a copy of a tiny checkpoint); every variant and the
equal-cost controls are then measured on test seeds never used before.

Example:
    python scripts/ablate_calibration.py --backbone tiny --dev-seed 5101 --seeds 5201 5202 5203 \\
        --write-preset /tmp/tiny-preset.pt --json study.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from calibclip.backbones import load_backbone
from calibclip.calibration.word_stats import document_frequency
from calibclip.cli.common import format_table, run_script
from calibclip.datasets.pedes import load_pedes
from calibclip.datasets.synthetic_pedes import PedesOptions
from calibclip.evaluation.calibration_study import choose_preset, run_study, variant_configs
from calibclip.evaluation.diagnose import diagnose, load_data
from calibclip.datasets.generated import ensure_pedes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="tiny", help="backbone spec (default: the bundled tiny model)")
    p.add_argument("--dev-seed", type=int, default=5101, help="seed of the set the preset is chosen on")
    p.add_argument("--seeds", type=int, nargs="+", default=[5201, 5202, 5203], help="fresh test-set seeds")
    p.add_argument("--ids", type=int, default=900, help="identities per generated set (test split: 2/9)")
    p.add_argument("--style", default="classic", help="drawing style of the sets (classic | train | heldout)")
    p.add_argument("--lookalike-group", type=int, default=0, help="people per look-alike group (0: none)")
    p.add_argument("--lang", default="en", choices=["en", "zh"], help="caption language")
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/calib_study"), help="where the sets are written")
    p.add_argument("--write-preset", type=Path, help="tiny only: write the checkpoint with its preset here")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", type=Path, help="write every row here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = PedesOptions(style=args.style, lookalike_group=args.lookalike_group, lang=args.lang)
    dev_root = ensure_pedes(args.data_dir, args.dev_seed, args.ids, options)
    dev = load_pedes(dev_root, "test")
    corpus = args.data_dir / f"captions-seed{args.dev_seed}.txt"  # word frequencies: the dev captions only
    corpus.write_text("\n".join(dev.captions), encoding="utf-8")
    spec = args.backbone
    if args.write_preset:  # frequencies first, so the preset is chosen with them
        spec = stamp(spec, args.write_preset, {"word_df": document_frequency(dev.captions)})
    backbone = load_backbone(spec, args.device)
    preset, dev_rows = choose_preset(backbone, dev)
    print(f"preset chosen on dev seed {args.dev_seed}: {preset}\n{format_table(dev_rows)}\n")
    if args.write_preset:
        verdicts = diagnose(backbone, load_data(dev_root)).verdicts
        spec = stamp(spec, args.write_preset, {"calibration_preset": preset, "diagnosis": verdicts})
        backbone = load_backbone(spec, args.device)
    configs = {name: cfg if cfg is None or not cfg.dcc_enabled or name == "backbone preset"
               else dataclasses.replace(cfg, dcc_corpus=str(corpus))
               for name, cfg in variant_configs(backbone).items()}
    splits = [load_pedes(ensure_pedes(args.data_dir, seed, args.ids, options), "test") for seed in args.seeds]
    rows = run_study(backbone, splits, configs)
    shown = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    print(f"backbone {args.backbone}, test seeds {args.seeds}; first stage original, K 100, λ 0.5 unless the "
          f"preset says otherwise; mean ± std over seeds, Δ paired per seed\n")
    print(format_table(shown))
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "preset": preset,
                                         "dev": dev_rows, "test": rows}, indent=1))
    return 0


def stamp(spec: str, out: Path, updates: dict) -> str:
    """A copy of the tiny checkpoint behind ``spec`` at ``out`` carrying ``updates`` → its spec."""
    from calibclip.backbones.spec import parse_spec
    from calibclip.backbones.tiny import bundled_checkpoint, update_checkpoint_extra

    parsed = parse_spec(spec)
    if parsed.family != "tiny" or parsed.random_init:
        raise SystemExit("--write-preset needs a tiny checkpoint backbone (tiny or tiny:/path.pt)")
    update_checkpoint_extra(parsed.weights or bundled_checkpoint(), out, updates)
    return f"tiny:{out}"


if __name__ == "__main__":
    run_script(main)
