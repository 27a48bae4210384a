"""Batched image decoding + encoding shared by evaluation, search and the demo.

Images are decoded in a thread pool (PIL releases the GIL while decoding),
unreadable ones are skipped and counted (never fatal), and batches are
encoded on the backbone's device with a progress bar.
"""
from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence, Union

import torch
from PIL import Image
from tqdm.auto import tqdm

from calibclip.backbones.base import Backbone
from calibclip.datasets.images import open_image
from calibclip.errors import BadImage

log = logging.getLogger(__name__)

ImageSource = Union[str, Path, bytes, Callable[[], Image.Image]]


@dataclass
class EncodeReport:
    """Which inputs were encoded, and which were skipped and why."""

    encoded: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


def _decode(backbone: Backbone, source: ImageSource) -> torch.Tensor:
    image = source() if callable(source) else open_image(source)
    return backbone.preprocess(image)


def iter_pixel_batches(backbone: Backbone, sources: Sequence[ImageSource], batch_size: int = 64,
                       workers: int = 4, report: EncodeReport | None = None,
                       desc: str = "images") -> Iterator[tuple[list[int], torch.Tensor]]:
    """Yield (indices into ``sources``, pixels on the backbone device); bad images are skipped."""
    report = report if report is not None else EncodeReport()

    def load(i: int) -> torch.Tensor | None:
        try:
            return _decode(backbone, sources[i])
        except BadImage as exc:
            report.skipped[i] = exc.one_line()
            return None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, \
            tqdm(total=len(sources), desc=desc, unit="img", leave=False) as bar:
        for start in range(0, len(sources), batch_size):
            idx = list(range(start, min(start + batch_size, len(sources))))
            decoded = list(pool.map(load, idx))
            bar.update(len(idx))
            kept = [(i, t) for i, t in zip(idx, decoded) if t is not None]
            if not kept:
                continue
            report.encoded.extend(i for i, _ in kept)
            yield [i for i, _ in kept], torch.stack([t for _, t in kept]).to(backbone.device)
    if report.skipped:
        log.warning("skipped %d unreadable image(s)", len(report.skipped))


def inference_context(device: torch.device) -> contextlib.ExitStack:
    """``torch.inference_mode`` (no autograd bookkeeping), plus fp16 autocast on CUDA.

    Tensors created inside are inference tensors: write results into buffers made
    outside (or clone them) when a caller may later change them in place.
    """
    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    if torch.device(device).type == "cuda":
        stack.enter_context(torch.autocast("cuda", dtype=torch.float16))
    return stack


def encode_images(backbone: Backbone, sources: Sequence[ImageSource], batch_size: int = 64,
                  workers: int = 4) -> tuple[torch.Tensor, EncodeReport]:
    """Encode every readable image → ((len(sources), D) float32 CPU with zero rows for skipped, report)."""
    report = EncodeReport()
    out = torch.zeros(len(sources), backbone.embed_dim)
    with inference_context(backbone.device):
        for idx, pixels in iter_pixel_batches(backbone, sources, batch_size, workers, report):
            out[idx] = backbone.encode_image(pixels).float().cpu()
    return out, report
