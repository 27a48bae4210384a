"""Synthetic inputs for ``calibclip bench``: queries, captions, JPEG photos and large embedding galleries.

Speed does not depend on the weights or on what the pictures show, so everything
is generated: person queries in the shape the issue fixes for composite search
(3 AND clauses + 1 NOT once the rule rewriter has split them), person photos
drawn by the project's own generator and saved as JPEG at a photo-like size, and
galleries of up to millions of unit vectors drawn around cluster centres (so
that nearest neighbours mean something and IVF-PQ recall is not a coin toss).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from calibclip.calibration.retriever import GalleryFeatures
from calibclip.datasets.draw_person import encode_jpeg, render_person, sample_view
from calibclip.datasets.synthetic_pedes import DETAIL_COLOURS, DOMINANT_COLOURS, sample_person

_BAGS = ("bag", "backpack", "handbag", "shoulder bag")
_GARMENTS = ("coat", "jacket", "dress", "shirt")
_HATS = ("hat", "cap", "beanie")


def composite_queries(count: int, seed: int = 0) -> list[str]:
    """Person queries with three positive details and one negation (the rule rewriter: 3 AND + 1 NOT)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        who = rng.choice(["woman", "man"])
        garment, hat = rng.choice(_GARMENTS), rng.choice(_HATS)
        bag, shoes = rng.choice(DETAIL_COLOURS), rng.choice(DETAIL_COLOURS)
        out.append(f"a {who} in a {rng.choice(DOMINANT_COLOURS)} {garment} with a {bag} {rng.choice(_BAGS)} "
                   f"and {shoes} shoes, not wearing a {hat}")
    return out


def write_photos(folder: Path, count: int, size: tuple[int, int] = (640, 480), seed: int = 0) -> list[Path]:
    """``count`` JPEG files of drawn people, resized to ``size`` (width, height) like ordinary photos."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        image = render_person(sample_person(rng), sample_view(rng), rng).resize(size)
        path = folder / f"photo_{i:05d}.jpg"
        path.write_bytes(encode_jpeg(image, quality=90))
        paths.append(path)
    return paths


def clustered_unit_vectors(count: int, dim: int, seed: int, centres: int = 1024, spread: float = 0.6,
                           block: int = 1 << 16) -> torch.Tensor:
    """(count, dim) fp16 unit vectors, each a random centre plus Gaussian noise, made ``block`` rows at a time."""
    gen = torch.Generator().manual_seed(seed)
    middle = torch.nn.functional.normalize(torch.randn(centres, dim, generator=gen), dim=-1)
    out = torch.empty(count, dim, dtype=torch.float16)
    for start in range(0, count, block):
        rows = min(block, count - start)
        pick = torch.randint(0, centres, (rows,), generator=gen)
        noise = torch.randn(rows, dim, generator=gen) * (spread / dim ** 0.5)
        out[start:start + rows] = torch.nn.functional.normalize(middle[pick] + noise, dim=-1).half()
    return out


def synthetic_gallery(count: int, dim: int, seed: int = 0, scan_calibrated: bool = False) -> GalleryFeatures:
    """``count`` plain embeddings and their "calibrated" twins (a small perturbation), both stored as fp16.

    As a search holds them: the matrix every query scans in float32 (the fp16 values,
    converted once), the other in fp16 (the rerank reads only its top K rows). The
    calibrated matrix is scanned when calibration's first stage is ``calibrated``.
    """
    stored = clustered_unit_vectors(count, dim, seed)
    calibrated = torch.empty_like(stored)
    gen = torch.Generator().manual_seed(seed + 1)
    for start in range(0, count, 1 << 16):
        rows = stored[start:start + (1 << 16)].float()
        nudged = rows + torch.randn(rows.shape, generator=gen) * (0.2 / dim ** 0.5)
        calibrated[start:start + len(rows)] = torch.nn.functional.normalize(nudged, dim=-1).half()
    return GalleryFeatures(original=stored.float(), calibrated=calibrated.float() if scan_calibrated else calibrated)


__all__ = ["composite_queries", "write_photos", "clustered_unit_vectors", "synthetic_gallery"]
