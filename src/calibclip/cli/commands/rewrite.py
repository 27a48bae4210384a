"""``calibclip rewrite``: decompose queries into AND / NOT clauses (CsdCLIP rewriters).

One query: ``calibclip rewrite "a dog on a sofa, no cats" [--json]``.
Batch: ``calibclip rewrite --input en_x.jsonl --output out.jsonl`` rewrites the
raw query of every TIGR record and writes the same records with a new
``text`` line (the seed's ``reason.sh``).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from calibclip.cli.common import add_json_arg, print_json, print_table

HELP = "rewrite queries into an optimized query + AND / NOT clauses (rule, gold, local LLM or an OpenAI-compatible API)"


def add_rewriter_args(parser: argparse.ArgumentParser, default: str = "rule") -> None:
    """The flags that pick and configure a rewriter (shared with ``csdclip``)."""
    parser.add_argument("--rewriter", default=default, choices=["gold", "rule", "hf", "openai"],
                        help=f"query rewriter (default: {default})")
    parser.add_argument("--llm", default=None, help="hf: local transformers folder of a causal LM (e.g. Qwen3)")
    parser.add_argument("--base-url", default=None,
                        help="openai: endpoint such as http://localhost:8000/v1 (key from OPENAI_API_KEY)")
    parser.add_argument("--llm-model", default="qwen3", help="openai: served model name (default: qwen3)")
    parser.add_argument("--fallback", action="store_true",
                        help="openai: use the rule rewriter when the endpoint is down instead of failing")


def rewriter_from_args(args: argparse.Namespace, records=()):
    """Create the rewriter the flags ask for; ``records`` feed the gold rewriter."""
    from calibclip.composite.rewriters import create_rewriter
    from calibclip.errors import RewriteError

    if args.rewriter == "gold":
        if not records:
            raise RewriteError("the gold rewriter needs TIGR records", "pass --input FILE.jsonl, or --rewriter rule")
        return create_rewriter("gold", records=records)
    if args.rewriter == "hf":
        return create_rewriter("hf", path=args.llm)
    if args.rewriter == "openai":
        return create_rewriter("openai", base_url=args.base_url, model=args.llm_model, fallback=args.fallback)
    return create_rewriter("rule")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", nargs="?", help="the query to rewrite (omit with --input)")
    parser.add_argument("--input", help="TIGR jsonl to rewrite in batch (en_*.jsonl / zh_*.jsonl)")
    parser.add_argument("--output", help="where batch mode writes the rewritten jsonl")
    parser.add_argument("--lang", choices=["en", "zh"], default=None,
                        help="query language (default: en, or the en_/zh_ prefix of --input)")
    add_rewriter_args(parser)
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    from calibclip.errors import BadQuery

    if bool(args.query) == bool(args.input):
        raise BadQuery("give either a query or --input FILE.jsonl", 'e.g. calibclip rewrite "a dog, no cats"')
    if args.input:
        return _batch(args)
    clauses = rewriter_from_args(args).rewrite(args.query, args.lang or "en")
    if args.json:
        print_json({"raw": clauses.raw, "optimized": clauses.optimized, "and": list(clauses.and_clauses),
                    "not": list(clauses.not_clauses)})
        return 0
    from calibclip.composite.clauses import format_tigr_text

    rows = [{"part": "optimized", "text": clauses.optimized}]
    rows += [{"part": "AND", "text": c} for c in clauses.and_clauses]
    rows += [{"part": "NOT", "text": c} for c in clauses.not_clauses]
    print_table(rows)
    print(format_tigr_text(clauses))
    return 0


def _batch(args: argparse.Namespace) -> int:
    from calibclip.composite.clauses import format_tigr_text
    from calibclip.datasets.tigr import find_jsonl, read_queries
    from calibclip.errors import ConfigError

    if not args.output:
        raise ConfigError("batch mode needs --output FILE.jsonl", "the input file is never overwritten")
    _, path, lang = find_jsonl(args.input, args.lang or "en")
    output = Path(args.output)
    if output.resolve() == path.resolve():
        raise ConfigError(f"--output {output} is the input file", "write to a new file")
    queries = read_queries(path)
    rewriter = rewriter_from_args(args, queries)
    rewritten = rewriter.rewrite_many([q.clauses.raw for q in queries], args.lang or lang)
    lines = [json.dumps({"text_id": q.text_id, "text": format_tigr_text(c), "image_ids": q.hr,
                         "image_xiangsi_ids": q.mr}, ensure_ascii=False) for q, c in zip(queries, rewritten)]
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, output)
    summary = {"input": str(path), "output": str(output), "queries": len(lines), "rewriter": rewriter.name}
    if args.json:
        print_json(summary)
    else:
        print(f"rewrote {len(lines)} queries with {rewriter.name} → {output}")
    return 0
