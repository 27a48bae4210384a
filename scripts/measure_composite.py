"""Measure CsdCLIP on fresh synthetic TIGR sets: rule vs gold clauses, baseline vs composite, ablation.

For every seed a synthetic TIGR set is generated (``generate_tigr``; reused when
already there). The combination knobs are chosen on the **tune** seeds (mean
NIPR@10 with gold clauses) and reported on the **test** seeds, so the tables
are not tuned on the numbers they show. The gallery and all texts are encoded
once per seed (``CompositeSearcher.clause_scores``); every knob setting only
re-combines the score matrices.

Example:
    python scripts/measure_composite.py --backbone tiny --tune-seeds 301 --test-seeds 302 303 \\
        --data-dir /tmp/csd_measure --json composite.json
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from calibclip.backbones import load_backbone
from calibclip.cli.common import format_table
from calibclip.composite.rewriters import create_rewriter
from calibclip.composite.search import CompositeSearcher
from calibclip.config import CompositeConfig
from calibclip.datasets.synthetic_tigr import generate_tigr
from calibclip.datasets.tigr import load_tigr
from calibclip.errors import CalibclipError
from calibclip.evaluation.clause_match import clause_agreement
from calibclip.evaluation.composite_eval import encode_tigr_gallery, tigr_metrics

SHOWN = ("GRP@10", "NIPR@10", "nDCG@10", "HR-Hit@10", "R@1", "R@10")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="tiny", help="backbone spec (default: the bundled tiny model)")
    p.add_argument("--tune-seeds", type=int, nargs="+", default=[301])
    p.add_argument("--test-seeds", type=int, nargs="+", default=[302, 303])
    p.add_argument("--scale", default="default", help="generate_tigr scale (small | default)")
    p.add_argument("--lang", default="en", choices=["en", "zh"], help="query language for retrieval")
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/csd_measure"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", type=Path, default=None, help="also write every number here")
    return p.parse_args(argv)


def dataset(args: argparse.Namespace, seed: int) -> Path:
    out = args.data_dir / f"tigr_{args.scale}_{seed}"
    if not (out / "synth_meta.json").is_file():
        generate_tigr(out, seed=seed, scale=args.scale, langs=("en", "zh"))
    return out


def grid() -> list[CompositeConfig]:
    """The knob settings compared (defaults first)."""
    configs = [CompositeConfig()]
    for mode, temp, fuse, use_not, tau, w_not, w_query in itertools.product(
            ("softmin", "mean", "min"), (0.25, 0.5, 1.0), (True, False), (True, False), (0.0, 0.5, 1.0),
            (0.5, 1.0, 2.0), (0.5, 1.0)):
        if (mode != "softmin" and temp != 0.5) or (not use_not and (tau, w_not) != (1.0, 1.0)) \
                or (not fuse and w_query != 1.0):
            continue
        configs.append(CompositeConfig(w_query=w_query, w_not=w_not, not_threshold=tau, and_mode=mode,
                                       softmin_temperature=temp, fuse_query=fuse, use_not=use_not))
    unique = {tuple(dataclasses.asdict(c).values()): c for c in reversed(configs)}
    return sorted(unique.values(), key=lambda c: c != CompositeConfig())


def knob_name(cfg: CompositeConfig) -> str:
    base = dataclasses.asdict(CompositeConfig())
    changed = {k: v for k, v in dataclasses.asdict(cfg).items() if base[k] != v}
    return ", ".join(f"{k}={v}" for k, v in changed.items()) or "defaults"


def clause_table(args: argparse.Namespace) -> list[dict]:
    """(a) rule vs gold clauses on the test seeds, per language."""
    rule, rows = create_rewriter("rule"), []
    for lang in ("en", "zh"):
        gold, pred = [], []
        for seed in args.test_seeds:
            tigr = load_tigr(dataset(args, seed), lang)
            tigr.close()
            gold += [q.clauses for q in tigr.queries]
        pred = rule.rewrite_many([c.raw for c in gold], lang)
        rows.append({"lang": lang, **clause_agreement(pred, gold)})
    return rows


def seed_runs(args: argparse.Namespace, backbone, seed: int, configs: list[CompositeConfig]) -> dict:
    """Metrics of baseline and of every config, with gold and rule clauses, on one seed."""
    tigr = load_tigr(dataset(args, seed), args.lang)
    try:
        gallery = encode_tigr_gallery(backbone, tigr, workers=args.workers)
    finally:
        tigr.close()
    gains = tigr.gains()
    out: dict = {}
    for name in ("gold", "rule"):
        rewriter = create_rewriter("gold", records=tigr.queries) if name == "gold" else create_rewriter(name)
        searcher = CompositeSearcher(backbone, rewriter=rewriter, lang=tigr.lang)
        scores = searcher.clause_scores([q.clauses.raw for q in tigr.queries], gallery.embeddings)
        runs = [searcher.combine(scores, 0, gallery.skipped, cfg) for cfg in configs]
        out["baseline"] = tigr_metrics(runs[0].baseline, gains, (1, 5, 10))
        out[name] = [tigr_metrics(r.composite, gains, (1, 5, 10)) for r in runs]
    return out


def mean_metrics(dicts: list[dict]) -> dict:
    return {k: float(np.mean([d[k] for d in dicts])) for k in SHOWN}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        backbone = load_backbone(args.backbone, "cpu")
        clauses = clause_table(args)
        configs = grid()
        tune = [seed_runs(args, backbone, s, configs) for s in args.tune_seeds]
        test = [seed_runs(args, backbone, s, configs) for s in args.test_seeds]
    except CalibclipError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    tuned = [mean_metrics([run["gold"][i] for run in tune])["NIPR@10"] for i in range(len(configs))]
    best = int(np.argmax(tuned))
    print(f"(a) rule vs gold clauses, test seeds {args.test_seeds}")
    print(format_table(clauses, ["lang", "AND-P", "AND-R", "NOT-P", "NOT-R", "optimized", "queries"]))
    main_rows = [{"method": "baseline", **mean_metrics([r["baseline"] for r in test])}]
    for name in ("gold", "rule"):
        main_rows.append({"method": f"composite {name} (defaults)", **mean_metrics([r[name][0] for r in test])})
        main_rows.append({"method": f"composite {name} (tuned)", **mean_metrics([r[name][best] for r in test])})
    print(f"\n(b) {args.backbone}, {args.lang}, test seeds {args.test_seeds}; tuned = {knob_name(configs[best])}")
    print(format_table(main_rows, ["method", *SHOWN]))
    ablation = sorted(({"knobs": knob_name(cfg), "tune NIPR@10": tuned[i],
                        **{f"test {k}": v for k, v in mean_metrics([r["gold"][i] for r in test]).items()
                           if k in ("NIPR@10", "GRP@10")}} for i, cfg in enumerate(configs)),
                      key=lambda row: -row["tune NIPR@10"])
    print(f"\n(c) ablation with gold clauses ({len(configs)} settings; top 12 and defaults)")
    shown = ablation[:12] + [r for r in ablation[12:] if r["knobs"] == "defaults"]
    print(format_table(shown))
    if args.json:
        args.json.write_text(json.dumps({"clauses": clauses, "main": main_rows, "ablation": ablation,
                                         "best": dataclasses.asdict(configs[best])}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
