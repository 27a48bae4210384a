"""Measure tiny-qwen3 before and after LoRA against ``rule`` and ``gold`` on fresh synthetic TIGR sets.

Definitions and the protocol: ``calibclip.llm.measure``; the results and how the
LM was built: docs/guides/llm-rewriter.md. Tables: mean ± sd over the seeds, and
paired per-seed deltas.

Example:
    python scripts/measure_llm_rewriter.py --llm runs/llm/tiny --seeds 1401 1402 1403 \\
        --data-dir runs/llm/measure --json llm_rewriter.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from calibclip.cli.common import format_table
from calibclip.llm.measure import measure, summary_rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--llm", type=Path, default=Path("runs/llm/tiny"),
                   help="folder of `calibclip llm pretrain-tiny` with the adapter in lora/")
    p.add_argument("--seeds", type=int, nargs="+", default=[1401, 1402, 1403])
    p.add_argument("--langs", nargs="+", default=["en", "zh"])
    p.add_argument("--data-dir", type=Path, default=Path("runs/llm/measure"))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    p.add_argument("--json", type=Path, default=None, help="also write every number here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    report = measure(args.llm, args.seeds, args.langs, args.data_dir, args.batch_size)
    for lang, (rows, deltas) in summary_rows(report).items():
        print(f"\n{lang}: mean ± sd over seeds {report['seeds']} (40 queries each)")
        print(format_table(rows))
        print(format_table(deltas))
    print(f"\nevaluation queries also in the LM's training text: {report['overlap']:.1f}%")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
