"""``calibclip search``: search an index database by text or by an example image.

    calibclip search "a dog on a sofa, no cats" --db photos.db [-k 20] [--calibrate] [--composite]
    calibclip search --image example.jpg --db photos.db

A table of rank, score, match and path (composite adds one column per clause:
``+clause`` must match, ``-clause`` must not); ``--json`` adds the explanations
(CVE-suppressed patches, DCC-masked words, clause scores). ``--min-score S``
drops results whose ``match`` is below S, so "nothing matches" is an answer.
"""
from __future__ import annotations

import argparse

from calibclip.cli.commands.export_qdrant import add_qdrant_args
from calibclip.cli.commands.rewrite import add_rewriter_args, rewriter_from_args
from calibclip.cli.common import (add_device_arg, add_json_arg, add_threads_arg, apply_threads, print_json,
                                  print_table)

HELP = "search an index database: text or example image, plain / calibrated / composite"
CLAUSE_WIDTH = 24


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", nargs="?", help="what to look for (omit with --image)")
    parser.add_argument("--db", required=True, help="the database 'calibclip index' wrote")
    parser.add_argument("-k", "--top-k", dest="k", type=int, default=20, help="results shown (default: 20)")
    parser.add_argument("--calibrate", action="store_true", help="CalibCLIP: DCC query, CVE images, top-K rerank")
    parser.add_argument("--composite", action="store_true", help="CsdCLIP: AND / NOT clauses scored and combined")
    add_rewriter_args(parser)
    parser.add_argument("--min-score", type=float, default=None, metavar="S",
                        help="only results whose match (relevance z-score vs reference captions) is at least S")
    parser.add_argument("--image", metavar="PATH", help="search by an example image instead of text")
    add_qdrant_args(parser, required=False)
    add_device_arg(parser)
    add_threads_arg(parser)
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    from calibclip.errors import BadQuery
    from calibclip.search import Searcher

    if (args.query is None) == (args.image is None):
        raise BadQuery("give either a text query or --image PATH", 'e.g. calibclip search "a red car" --db photos.db')
    apply_threads(args)
    if args.qdrant:  # candidates from Qdrant (calibclip export-qdrant), reranked here
        from calibclip.vectordb import QdrantSearcher, qdrant_client

        searcher = QdrantSearcher(args.db, qdrant_client(args.qdrant), args.collection, device=args.device)
    else:
        searcher = Searcher(args.db, device=args.device)
    try:
        rewriter = rewriter_from_args(args) if args.composite else "rule"
        result = searcher.search(args.query, image=args.image, k=args.k, calibrate=args.calibrate,
                                 composite=args.composite, rewriter=rewriter, min_score=args.min_score)
    finally:
        searcher.close()
    if args.json:
        print_json(result)
        return 0
    render(result)
    return 0


def render(result) -> None:
    """The results table, with what the query became above it."""
    what = repr(result.query) if result.query is not None else "the example image"
    notes = [f"{result.method} search for {what} over {result.searched} images ({result.seconds * 1000:.0f} ms)"]
    if result.masked_words:
        notes.append(f"DCC masked: {', '.join(result.masked_words)}")
    if result.clauses is not None:
        notes.append(f"clauses: AND {list(result.clauses.and_clauses)} NOT {list(result.clauses.not_clauses)}")
    rows = []
    for hit in result.hits:
        row = {"rank": hit.rank, "score": f"{hit.score:.4f}", "baseline_rank": hit.baseline_rank}
        if hit.match is not None:
            row["match"] = f"{hit.match:.2f}"
        for sign, part in (("+", "and"), ("-", "not")):
            for clause, sim in (hit.clauses or {}).get(part, {}).items():
                row[f"{sign}{clause[:CLAUSE_WIDTH]}"] = f"{sim:.4f}"
        rows.append({**row, "path": hit.path})
    print("\n".join(notes))
    if not rows and result.min_score is not None:
        print(f"nothing matches (no result has match >= {result.min_score})")
        return
    print_table(rows)
