"""Measure a query rewriter against gold clauses: clause P/R/F1, malformed clauses, negation inversions.

Sets: fresh synthetic TIGR queries (en, zh), the captions of a freshly generated
person set (en; gold from the generator's attributes), and the hand-written
person descriptions and web queries of ``--handwritten``. Definitions:
``calibclip.evaluation.rewriter_eval``.

The rewriter is picked with the flags of ``calibclip rewrite`` (``--rewriter rule``,
``--rewriter hf --llm DIR``, ``--rewriter openai --base-url URL``).

Example:
    python scripts/measure_rewriter.py --tigr-seed 4411 --pedes-seed 4412 \\
        --handwritten tests/composite/fixtures/rewriter_handwritten.jsonl --json rewriter.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from calibclip.cli.commands.rewrite import add_rewriter_args, rewriter_from_args
from calibclip.cli.common import format_table
from calibclip.datasets.synthetic_pedes import META_FILE, generate_pedes
from calibclip.errors import CalibclipError
from calibclip.evaluation.rewriter_eval import gold_sets, rewriter_table

SHOWN = ["set", "lang", "queries", "clauses", "P", "R", "F1", "AND-F1", "NOT-F1", "malformed",
         "malformed queries", "inversions"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_rewriter_args(p)             # --rewriter rule|hf|openai and their options, as `calibclip rewrite`
    p.add_argument("--tigr-seed", type=int, default=4411)
    p.add_argument("--tigr-queries", type=int, default=1000)
    p.add_argument("--pedes-seed", type=int, default=4412)
    p.add_argument("--pedes-ids", type=int, default=180, help="identities of the person set (~6 captions each)")
    p.add_argument("--handwritten", type=Path, default=None, help="hand-written gold jsonl (optional)")
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/rewriter_measure"))
    p.add_argument("--json", type=Path, default=None, help="also write every number here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        pedes = args.data_dir / f"pedes_{args.pedes_seed}_{args.pedes_ids}"
        if not (pedes / META_FILE).is_file():
            generate_pedes(pedes, seed=args.pedes_seed, ids=args.pedes_ids, layouts=("cuhkpedes",))
        sets = gold_sets(args.tigr_seed, args.tigr_queries, pedes, args.handwritten)
        rows = rewriter_table(rewriter_from_args(args), sets)
    except CalibclipError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    print(f"rewriter {args.rewriter!r} vs gold clauses (percent; inversions: count)")
    print(format_table([{k: "-" if v is None else v for k, v in r.items()} for r in rows], SHOWN))
    rules = [{"set": r["set"], "lang": r["lang"], **{k[6:]: v for k, v in r.items() if k.startswith("rule: ")}}
             for r in rows]
    print("\nmalformed clauses by rule (count)")
    print(format_table(rules))
    if args.json:
        args.json.write_text(json.dumps({"rewriter": args.rewriter, "rows": rows}, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
