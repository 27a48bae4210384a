"""Measure tiny-qwen3 before and after LoRA against ``rule`` and ``gold`` on fresh synthetic TIGR sets.

For every seed a small synthetic TIGR set is generated (``generate_tigr``; reused
when there). Per language, every rewriter rewrites the set's queries into a TIGR
jsonl next to its ``lmdb/`` (``<lang>_<rewriter>.jsonl``, as ``calibclip llm
rewrite`` writes it); the file is scored against the gold lines (clause F1,
exact lines, parse rate: ``calibclip.llm.scores``) and evaluated by ``csdclip
--dataset_path FILE --model_name tiny`` (the bundled tiny CLIP), as is the gold
file. Knobs are fixed before looking: the LoRA recipe of ``LLM_finetune/lora.sh``,
greedy decoding, the one-shot prompt for the LM without LoRA, the tuned prompt
with it. Tables: mean ± sd over the seeds, and paired deltas.

Example:
    python scripts/measure_llm_rewriter.py --llm runs/llm/tiny --seeds 1401 1402 1403 \\
        --data-dir /tmp/llm_measure --json llm_rewriter.json
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import statistics
import sys
from pathlib import Path

from calibclip.cli.common import format_table
from calibclip.cli.csdclip import main as csdclip
from calibclip.composite.rewrite_file import rewrite_tigr_file
from calibclip.composite.rewriters import create_rewriter
from calibclip.config import from_dict
from calibclip.datasets.synthetic_tigr import generate_tigr
from calibclip.datasets.tigr import read_queries
from calibclip.llm.rewrite import local_rewriter
from calibclip.llm.scores import llm_scores
from calibclip.llm.tiny import TinyLMConfig, corpus

SHOWN = ("parsed", "F1", "AND-F1", "NOT-F1", "exact", "inversions", "GRP@10", "NIPR@10")
NAMES = {"rule": "rule", "base": "tiny-qwen3, no LoRA", "lora": "tiny-qwen3 + LoRA", "gold": "gold"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--llm", type=Path, default=Path("runs/llm/tiny"),
                   help="folder of `calibclip llm pretrain-tiny` with the adapter in lora/")
    p.add_argument("--seeds", type=int, nargs="+", default=[1401, 1402, 1403])
    p.add_argument("--langs", nargs="+", default=["en", "zh"])
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/llm_measure"))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--json", type=Path, default=None, help="also write every number here")
    return p.parse_args(argv)


def scored_file(path: Path, gold: list, lang: str) -> dict:
    """Scores of a rewritten TIGR file against the gold decompositions (flags read from the file)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    predicted = [dataclasses.replace(q.clauses, extra={"fallback": "rule"} if r.get("fallback") else {})
                 for q, r in zip(read_queries(path), rows)]
    return {**llm_scores(predicted, gold, lang), "F1 (LM only)": llm_scores(predicted, gold, model_only=True)["F1"]}


def run_csdclip(path: Path) -> dict:
    """``csdclip --dataset_path PATH`` with the bundled tiny CLIP → its composite metrics."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = csdclip(["--dataset_path", str(path), "--model_name", "tiny", "--gpu", "-1", "--num_res", "10",
                        "--workers", "2", "--json"])
    if code:
        raise SystemExit(f"csdclip failed on {path}")
    report = json.loads(out.getvalue())
    return {"GRP@10": report["composite"]["GRP@10"], "NIPR@10": report["composite"]["NIPR@10"],
            "baseline GRP@10": report["baseline"]["GRP@10"], "baseline NIPR@10": report["baseline"]["NIPR@10"]}


def overlap(llm: Path, raws: set[str]) -> float:
    """Share (percent) of evaluation queries whose raw text is in the LM's pre-training or fine-tuning text."""
    meta = json.loads((llm / "tiny_lm.json").read_text(encoding="utf-8"))
    seen = {line.split(" | ", 1)[0] for line in corpus(from_dict(TinyLMConfig, meta["config"]))}
    for path in (llm / "data").glob("*.jsonl"):
        seen |= {q.clauses.raw for q in read_queries(path)}
    return 100.0 * len(raws & seen) / max(1, len(raws))


def measure(args: argparse.Namespace) -> dict:
    rewriters = {"rule": create_rewriter("rule"),
                 "base": local_rewriter(args.llm / "base", None, "cpu", args.batch_size, prompt="one-shot"),
                 "lora": local_rewriter(args.llm / "base", args.llm / "lora", "cpu", args.batch_size)}
    results: dict = {lang: {name: [] for name in NAMES} for lang in args.langs}
    raws: set[str] = set()
    for seed in args.seeds:
        root = args.data_dir / f"tigr_small_{seed}"
        if not (root / "synth_meta.json").is_file():
            generate_tigr(root, seed=seed, scale="small", langs=tuple(args.langs))
        for lang in args.langs:
            gold_path = next(root.glob(f"{lang}_synth_tigr.jsonl"))
            gold = [q.clauses for q in read_queries(gold_path)]
            raws |= {g.raw for g in gold}
            for name, rewriter in rewriters.items():
                path = root / f"{lang}_{name}.jsonl"
                rewrite_tigr_file(rewriter, gold_path, path, lang)
                results[lang][name].append({"seed": seed, **scored_file(path, gold, lang), **run_csdclip(path)})
            results[lang]["gold"].append({"seed": seed, **scored_file(gold_path, gold, lang),
                                          **run_csdclip(gold_path)})
    return {"seeds": args.seeds, "overlap": overlap(args.llm, raws), "results": results}


def mean_sd(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def tables(report: dict) -> str:
    out = []
    for lang, by_name in report["results"].items():
        rows = [{"rewriter": NAMES[n], **{k: mean_sd([r[k] for r in runs]) for k in SHOWN}}
                for n, runs in by_name.items()]
        out += [f"\n{lang}: mean ± sd over seeds {report['seeds']} (40 queries each)", format_table(rows)]
        deltas = []
        for a, b in (("lora", "rule"), ("lora", "base"), ("gold", "lora")):
            pairs = list(zip(by_name[a], by_name[b]))
            deltas.append({"paired Δ": f"{NAMES[a]} − {NAMES[b]}",
                           **{k: mean_sd([x[k] - y[k] for x, y in pairs if x[k] is not None and y[k] is not None])
                              for k in ("F1", "exact", "GRP@10", "NIPR@10")}})
        out.append(format_table(deltas))
    out.append(f"\nevaluation queries also in the LM's training text: {report['overlap']:.1f}%")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = measure(args)
    print(tables(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
