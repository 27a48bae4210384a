"""``calibclip serve``: the search page and JSON API over an index database.

    calibclip serve --db photos.db            # then open http://127.0.0.1:8000

Binds 127.0.0.1 unless ``--host`` says otherwise (the page serves your photos:
think before exposing it). The OpenAPI schema is at ``/openapi.json``.
"""
from __future__ import annotations

import argparse

from calibclip.cli.commands.rewrite import add_rewriter_args, rewriter_from_args
from calibclip.cli.common import add_device_arg, add_threads_arg, apply_threads

HELP = "serve the search page and JSON API over an index database (localhost by default)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, help="the database 'calibclip index' wrote")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    add_rewriter_args(parser)
    add_device_arg(parser)
    add_threads_arg(parser)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from calibclip.search import Searcher
    from calibclip.web.app import create_app

    apply_threads(args)
    searcher = Searcher(args.db, device=args.device)
    if args.rewriter != "rule":  # the page's rewriter menu gets the one configured here
        searcher.rewriters[args.rewriter] = rewriter_from_args(args)
    print(f"serving {args.db} ({searcher.store.count()} images) on http://{args.host}:{args.port}", flush=True)
    try:
        uvicorn.run(create_app(searcher), host=args.host, port=args.port, log_level="warning")
    finally:
        searcher.close()
    return 0
