"""``calibclip convert``: turn COCO / Flickr30k / Urban1k / wikiDO / caption tables into the TIGR layout."""
from __future__ import annotations

import argparse

from calibclip.cli.common import add_json_arg, print_summary

HELP = "convert a caption dataset (coco, flickr30k, urban1k, wikido, folder) into the TIGR jsonl + LMDB layout"
KINDS = ("coco", "flickr30k", "urban1k", "wikido", "folder")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="input format (wikido/folder: a jsonl or CSV caption table)")
    parser.add_argument("--src", required=True,
                        help="coco/flickr30k: dataset_*.json (or its folder); urban1k: folder with image/ and "
                             "caption/; wikido/folder: .jsonl ({image, caption}) or .csv (image,caption)")
    parser.add_argument("--out", required=True, help="output dataset folder (new or empty)")
    parser.add_argument("--images", default=None,
                        help="image root when images are not beside --src (coco/flickr30k: the folder holding "
                             "val2014/ or the jpgs; urban1k: the image folder)")
    parser.add_argument("--split", default="test", help="Karpathy split: train, val, test, restval or all "
                                                        "(default: test)")
    parser.add_argument("--lang", default="en", choices=["en", "zh"], help="caption language (default: en)")
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    from calibclip.datasets.converters import convert_dataset

    summary = convert_dataset(args.kind, args.src, args.out, split=args.split, lang=args.lang, images=args.images)
    print_summary(summary, args.json)
    return 0
