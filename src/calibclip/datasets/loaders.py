"""The test loader the seed API hands to ``Evaluator.evaluate``.

A person-retrieval test set is two lists (IRRA, github.com/anosorae/IRRA,
``datasets/build.py``: an image loader and a text loader over one split); here
the split carries the captions and ids, and ``images`` is a ``DataLoader`` over
the gallery for callers that want pixel batches themselves.

Example:
    >>> loader = build_test_loader("data/CUHK-PEDES", batch_size=128)
    >>> len(loader.split.captions), len(loader.split.image_paths)
    >>> for index, pid, pixels in loader.images: ...
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from calibclip.datasets.images import open_image
from calibclip.datasets.pedes import PedesSplit, load_pedes

Transform = Callable[[Image.Image], torch.Tensor]


class PedesImages(Dataset):
    """Gallery images of a split in gallery order: item ``i`` is ``(i, person id, pixels)``."""

    def __init__(self, split: PedesSplit, transform: Transform) -> None:
        self.split = split
        self.transform = transform

    def __len__(self) -> int:
        return len(self.split.image_paths)

    def __getitem__(self, index: int) -> tuple[int, int, torch.Tensor]:
        image = open_image(self.split.image_paths[index])
        return index, int(self.split.image_pids[index]), self.transform(image)


@dataclass
class PedesTestLoader:
    """One test split plus a gallery ``DataLoader``.

    Attributes:
        split: captions (queries), images (gallery) and their person ids.
        images: batches of ``(indices, pids, pixels)`` transformed by ``transform``.
        transform: the image transform of ``images`` (``build_transforms(is_train=False)``).
        batch_size: images per batch; ``Evaluator`` encodes captions in batches of this size too.
    """

    split: PedesSplit
    images: DataLoader
    transform: Transform
    batch_size: int

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self):
        return iter(self.images)


def build_test_loader(root: str | Path, transform: Transform | None = None, batch_size: int = 128,
                      split: str = "test", layout: str | None = None, num_workers: int = 0) -> PedesTestLoader:
    """Load ``split`` of the dataset at ``root`` (any supported layout) as a ``PedesTestLoader``.

    Args:
        root: the dataset folder (CUHK-PEDES, ICFG-PEDES, RSTPReid or the seed's ``annotations/`` layout).
        transform: PIL → tensor; default ``build_transforms(is_train=False)`` (384×128, CLIP normalisation).
        batch_size: images per batch.
        split: "train", "val" or "test".
        layout: force a layout instead of detecting it from the folder.
        num_workers: ``DataLoader`` worker processes.
    """
    if transform is None:
        from calibclip.datasets.transforms import build_transforms

        transform = build_transforms(is_train=False)
    data = load_pedes(root, split=split, layout=layout)
    images = DataLoader(PedesImages(data, transform), batch_size=batch_size, shuffle=False,
                        num_workers=num_workers)
    return PedesTestLoader(split=data, images=images, transform=transform, batch_size=batch_size)


__all__ = ["PedesImages", "PedesTestLoader", "build_test_loader"]
