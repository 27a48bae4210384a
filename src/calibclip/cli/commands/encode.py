"""``calibclip encode``: embed texts and/or images with any backbone (a smoke test for a spec)."""
from __future__ import annotations

import argparse

from calibclip.cli.common import add_backbone_arg, add_device_arg, add_json_arg, print_json, print_table

HELP = "encode texts/images with a backbone and print embedding shapes, norms and similarities"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_backbone_arg(parser)
    parser.add_argument("--text", "-t", action="append", default=[], help="a text to encode (repeatable)")
    parser.add_argument("--image", "-i", action="append", default=[], help="an image file to encode (repeatable)")
    add_device_arg(parser)
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    from calibclip.backbones import load_backbone
    from calibclip.datasets.images import open_image
    from calibclip.errors import BadQuery

    if not args.text and not args.image:
        raise BadQuery("nothing to encode", "pass --text TEXT and/or --image FILE")
    model = load_backbone(args.backbone, args.device)
    texts = model.embed_texts(args.text) if args.text else None
    images = model.embed_images([open_image(p) for p in args.image]) if args.image else None
    result = {"backbone": args.backbone, "embed_dim": model.embed_dim}
    if texts is not None and images is not None:
        sims = (texts @ images.T).tolist()
        result["similarity"] = {t: dict(zip(args.image, row)) for t, row in zip(args.text, sims)}
    rows = [{"input": t, "kind": "text", "norm": float(v.norm())} for t, v in zip(args.text, texts if texts is not None else [])]
    rows += [{"input": p, "kind": "image", "norm": float(v.norm())} for p, v in zip(args.image, images if images is not None else [])]
    if args.json:
        print_json({**result, "inputs": rows})
        return 0
    print_table(rows, title=f"{args.backbone} (dim {model.embed_dim})")
    for text, by_image in result.get("similarity", {}).items():
        for path, score in by_image.items():
            print(f"sim({text!r}, {path}) = {score:.4f}")
    return 0
