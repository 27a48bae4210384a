"""tiny-qwen3 before and after LoRA against ``rule`` and ``gold`` on fresh synthetic TIGR sets.

The logic of ``scripts/measure_llm_rewriter.py``. For every seed a small
synthetic TIGR set is generated (``generate_tigr``; reused when there). Per
language, every rewriter rewrites the set's queries into a TIGR jsonl next to
its ``lmdb/`` (``<lang>_<rewriter>.jsonl``, as ``calibclip llm rewrite`` writes
it); the file is scored against the gold lines (parse rate, clause F1, exact
lines: ``llm.scores``) and evaluated as ``csdclip --dataset_path FILE
--model_name tiny`` evaluates it (the bundled tiny CLIP, the file's own lines),
as is the gold file. Knobs are fixed before looking: greedy decoding, the
one-shot prompt for the LM without LoRA, the adapter's (tuned) prompt with it.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import statistics
from pathlib import Path
from typing import Any, Sequence

from calibclip.composite.rewrite_file import rewrite_tigr_file
from calibclip.composite.rewriters import create_rewriter
from calibclip.config import from_dict
from calibclip.datasets.synthetic_tigr import generate_tigr
from calibclip.datasets.tigr import load_tigr, read_queries
from calibclip.llm.rewrite import local_rewriter
from calibclip.llm.scores import llm_scores
from calibclip.llm.tiny import TinyLMConfig, corpus
from calibclip.types import Clauses

log = logging.getLogger(__name__)

NAMES = {"rule": "rule", "base": "tiny-qwen3, no LoRA", "lora": "tiny-qwen3 + LoRA", "gold": "gold"}
SHOWN = ("parsed", "F1 (LM only)", "F1", "AND-F1", "NOT-F1", "exact", "inversions", "GRP@10", "NIPR@10")
DELTA_METRICS = ("F1 (LM only)", "F1", "exact", "GRP@10", "NIPR@10")
DELTAS = (("lora", "rule"), ("lora", "base"), ("gold", "lora"))


def scored_file(path: Path, gold: Sequence[Clauses], lang: str) -> dict[str, float]:
    """Scores of a rewritten TIGR file against the gold decompositions (fallback flags read from the file).

    ``F1`` scores what the file holds (``rule`` lines where the LM's answer was
    unusable); ``F1 (LM only)`` counts those flagged lines as empty.
    """
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    predicted = [dataclasses.replace(q.clauses, extra={"fallback": "rule"} if r.get("fallback") else {})
                 for q, r in zip(read_queries(path), rows)]
    return {**llm_scores(predicted, gold, lang), "F1 (LM only)": llm_scores(predicted, gold, model_only=True)["F1"]}


def composite_metrics(backbone: Any, path: Path, workers: int = 2) -> dict[str, float]:
    """What ``csdclip --dataset_path PATH --model_name tiny --num_res 10`` reports: the file's own lines searched."""
    from calibclip.evaluation.composite_eval import evaluate_tigr

    tigr = load_tigr(path)
    try:
        result = evaluate_tigr(backbone, tigr, create_rewriter("gold", records=tigr.queries), ks=(1, 5, 10),
                               num_res=10, workers=workers)
    finally:
        tigr.close()
    return {"GRP@10": result["composite"]["GRP@10"], "NIPR@10": result["composite"]["NIPR@10"],
            "baseline GRP@10": result["baseline"]["GRP@10"], "baseline NIPR@10": result["baseline"]["NIPR@10"]}


def overlap(llm: Path, raws: set[str]) -> float:
    """Share (percent) of evaluation queries whose raw text is in the LM's pre-training or fine-tuning text."""
    meta = json.loads((llm / "tiny_lm.json").read_text(encoding="utf-8"))
    seen = {line.split(" | ", 1)[0] for line in corpus(from_dict(TinyLMConfig, meta["config"]))}
    for path in (llm / "data").glob("*.jsonl"):
        seen |= {q.clauses.raw for q in read_queries(path)}
    return 100.0 * len(raws & seen) / max(1, len(raws))


def measure(llm: str | Path, seeds: Sequence[int], langs: Sequence[str], data_dir: str | Path,
            batch_size: int = 16, workers: int = 2) -> dict[str, Any]:
    """Every rewriter on every (seed, language) → ``{"seeds", "overlap", "results": {lang: {name: [row per seed]}}}``.

    ``llm`` is a folder of ``calibclip llm pretrain-tiny`` with its adapter in ``lora/``.

    Example:
        >>> report = measure("runs/llm/tiny", [1401, 1402, 1403], ["en", "zh"], "runs/llm/measure")
        >>> report["results"]["en"]["lora"][0]["F1"]
    """
    from calibclip.backbones import load_backbone

    llm, data_dir = Path(llm), Path(data_dir)
    rewriters = {"rule": create_rewriter("rule"),
                 "base": local_rewriter(llm / "base", None, "cpu", batch_size, prompt="one-shot"),
                 "lora": local_rewriter(llm / "base", llm / "lora", "cpu", batch_size)}
    backbone = load_backbone("tiny", "cpu")
    results: dict[str, dict[str, list]] = {lang: {name: [] for name in NAMES} for lang in langs}
    raws: set[str] = set()
    for seed in seeds:
        root = data_dir / f"tigr_small_{seed}"
        if not (root / "synth_meta.json").is_file():
            generate_tigr(root, seed=seed, scale="small", langs=tuple(langs))
        for lang in langs:
            gold_path = root / f"{lang}_synth_tigr.jsonl"
            gold = [q.clauses for q in read_queries(gold_path)]
            raws |= {g.raw for g in gold}
            for name, rewriter in rewriters.items():
                path = root / f"{lang}_{name}.jsonl"
                rewrite_tigr_file(rewriter, gold_path, path, lang)
                results[lang][name].append({"seed": seed, **scored_file(path, gold, lang),
                                            **composite_metrics(backbone, path, workers)})
            results[lang]["gold"].append({"seed": seed, **scored_file(gold_path, gold, lang),
                                          **composite_metrics(backbone, gold_path, workers)})
            log.info("seed %d %s: done", seed, lang)
    return {"llm": str(llm), "seeds": list(seeds), "overlap": overlap(llm, raws), "results": results}


def mean_sd(values: Sequence[float | None]) -> str:
    """``mean ± sd`` over the seeds (one decimal), the value alone for one seed, "–" for none."""
    kept = [v for v in values if v is not None]
    if not kept:
        return "–"
    return f"{statistics.mean(kept):.1f} ± {statistics.stdev(kept):.1f}" if len(kept) > 1 else f"{kept[0]:.1f}"


def summary_rows(report: dict[str, Any]) -> dict[str, tuple[list[dict], list[dict]]]:
    """Per language: (one row per rewriter, mean ± sd over seeds; the paired per-seed deltas of ``DELTAS``)."""
    out = {}
    for lang, by_name in report["results"].items():
        rows = [{"rewriter": NAMES[n], **{k: mean_sd([r[k] for r in runs]) for k in SHOWN}}
                for n, runs in by_name.items()]
        deltas = [{"paired Δ": f"{NAMES[a]} − {NAMES[b]}",
                   **{k: mean_sd([x[k] - y[k] for x, y in zip(by_name[a], by_name[b])]) for k in DELTA_METRICS}}
                  for a, b in DELTAS]
        out[lang] = (rows, deltas)
    return out
