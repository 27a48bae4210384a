"""``calibclip export-qdrant``: copy an index's vectors into a Qdrant collection, to search them from there.

    calibclip export-qdrant --db photos.db --qdrant photos.qdrant     # Qdrant's local mode (a folder)
    calibclip export-qdrant --db photos.db --qdrant http://host:6333  # a Qdrant server
    calibclip search "a red car, no people" --db photos.db --qdrant photos.qdrant --composite

Searching with ``--qdrant`` takes the candidates from Qdrant and reranks them with
CalibCLIP / CsdCLIP (``calibclip.vectordb``).
"""
from __future__ import annotations

import argparse

from calibclip.cli.common import add_json_arg, print_json

HELP = "export an index database's vectors to Qdrant (local folder or server) for 'search --qdrant'"


def add_qdrant_args(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--qdrant", required=required, metavar="LOCATION",
                        help="Qdrant: a folder (local mode), :memory: or http://host:6333")
    parser.add_argument("--collection", default="calibclip", help="Qdrant collection (default: calibclip)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, help="the database 'calibclip index' wrote")
    add_qdrant_args(parser, required=True)
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    from calibclip.vectordb import export_to_qdrant, qdrant_client

    client = qdrant_client(args.qdrant)
    try:
        count = export_to_qdrant(args.db, client, args.collection)
    finally:
        client.close()
    result = {"db": args.db, "qdrant": args.qdrant, "collection": args.collection, "images": count}
    if args.json:
        print_json(result)
    else:
        print(f"exported {count} images from {args.db} to Qdrant {args.qdrant} (collection {args.collection})")
    return 0
