"""``calibclip rewrite``: decompose queries into AND / NOT clauses (CsdCLIP rewriters).

One query: ``calibclip rewrite "a dog on a sofa, no cats" [--json]``.
Batch: ``calibclip rewrite --input en_x.jsonl --output out.jsonl`` rewrites the
raw query of every TIGR record and writes the same records with a new
``text`` line (the seed's ``reason.sh``; ``calibclip llm rewrite`` is the same
for a local LLM or an endpoint).
"""
from __future__ import annotations

import argparse

from calibclip.cli.common import add_json_arg, print_json, print_summary, print_table

HELP = "rewrite queries into an optimized query + AND / NOT clauses (rule, gold, local LLM or an OpenAI-compatible API)"


def add_endpoint_args(parser: argparse.ArgumentParser) -> None:
    """Batch knobs of the ``openai`` rewriter (shared with ``calibclip llm rewrite``)."""
    parser.add_argument("--fallback", action="store_true",
                        help="openai: use the rule rewriter (flagged) for requests that fail for good instead of "
                             "stopping")
    parser.add_argument("--concurrency", type=int, default=4, help="openai: requests in flight at most (default: 4)")
    parser.add_argument("--timeout", type=float, default=60.0, help="openai: seconds per request (default: 60)")
    parser.add_argument("--retries", type=int, default=3,
                        help="openai: retries of a failed request, with doubling backoff (default: 3)")
    parser.add_argument("--cache", default=None,
                        help="openai: SQLite answer cache (default: $CALIBCLIP_CACHE or ~/.cache/calibclip, "
                             "llm_answers.sqlite)")
    parser.add_argument("--no-cache", action="store_true", help="openai: neither read nor write the answer cache")


def add_rewriter_args(parser: argparse.ArgumentParser, default: str = "rule") -> None:
    """The flags that pick and configure a rewriter (shared with ``csdclip``)."""
    parser.add_argument("--rewriter", default=default, choices=["gold", "rule", "hf", "openai"],
                        help=f"query rewriter (default: {default})")
    parser.add_argument("--llm", default=None, help="hf: local transformers folder of a causal LM (e.g. Qwen3)")
    parser.add_argument("--adapter", default=None, help="hf: LoRA adapter folder of `calibclip llm finetune`")
    parser.add_argument("--prompt", default=None, choices=["one-shot", "tuned"],
                        help="hf/openai: prompt style (default: the adapter's, else one-shot)")
    parser.add_argument("--base-url", default=None,
                        help="openai: endpoint such as http://localhost:8000/v1 (key from OPENAI_API_KEY)")
    parser.add_argument("--llm-model", default="qwen3", help="openai: served model name (default: qwen3)")
    add_endpoint_args(parser)


def endpoint_rewriter(args: argparse.Namespace, base_url: str | None, model: str):
    """The ``openai`` rewriter with the batch knobs of ``add_endpoint_args``."""
    from calibclip.composite.rewriters import create_rewriter
    from calibclip.config import cache_root

    cache = None if args.no_cache else (args.cache or cache_root() / "llm_answers.sqlite")
    return create_rewriter("openai", base_url=base_url, model=model, fallback=args.fallback,
                           concurrency=args.concurrency, timeout=args.timeout, retries=args.retries, cache=cache,
                           prompt=args.prompt or "one-shot")


def rewriter_from_args(args: argparse.Namespace, records=()):
    """Create the rewriter the flags ask for; ``records`` feed the gold rewriter."""
    from calibclip.composite.rewriters import create_rewriter
    from calibclip.errors import RewriteError

    if args.rewriter == "gold":
        if not records:
            raise RewriteError("the gold rewriter needs TIGR records", "pass --input FILE.jsonl, or --rewriter rule")
        return create_rewriter("gold", records=records)
    if args.rewriter == "hf":
        if args.adapter:
            from calibclip.llm.rewrite import local_rewriter

            return local_rewriter(args.llm, args.adapter, prompt=args.prompt)
        return create_rewriter("hf", path=args.llm, prompt=args.prompt or "one-shot")
    if args.rewriter == "openai":
        return endpoint_rewriter(args, args.base_url, args.llm_model)
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
    from calibclip.composite.rewrite_file import rewrite_tigr_file
    from calibclip.datasets.tigr import find_jsonl, read_queries
    from calibclip.errors import ConfigError

    if not args.output:
        raise ConfigError("batch mode needs --output FILE.jsonl", "the input file is never overwritten")
    records = read_queries(find_jsonl(args.input, args.lang or "en")[1]) if args.rewriter == "gold" else ()
    summary = rewrite_tigr_file(rewriter_from_args(args, records), args.input, args.output, args.lang)
    print_rewrite_summary(summary, args.json)
    return 0


def print_rewrite_summary(summary: dict, as_json: bool) -> None:
    """One line (or JSON) for a rewritten file, naming the fallbacks."""
    if as_json:
        print_summary(summary, True)
        return
    fallback = f" ({summary['fallback']} by the rule fallback, flagged)" if summary["fallback"] else ""
    print(f"rewrote {summary['queries']} queries with {summary['rewriter']}{fallback} → {summary['output']}")
