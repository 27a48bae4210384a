"""Image–caption pairs, with the light augmentations of the tiny model.

Generated training images are decoded and resized once into one uint8 tensor
(2 CPU cores cannot afford JPEG decoding every step); a dataset folder's images
(``ImageFiles``) are decoded batch by batch, in DataLoader worker processes on
a GPU machine. Every pair carries a *group* (person id, or TIGR query id) so
captions of the same person are not pushed apart as negatives.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from calibclip.backbones.tiny import resize_uint8
from calibclip.backbones.tiny_model import TinyTokenizer
from calibclip.datasets.images import open_image
from calibclip.index.encode import ImageSource
from calibclip.training.config import AugmentConfig

log = logging.getLogger(__name__)

# a clause ends at , . ; (or their CJK forms); the separator stays with the clause before it
_CLAUSE = re.compile(r"[^,.;，。；、]+[,.;，。；、]*\s*")


class ImageFiles:
    """Images decoded and resized on access: ``files[index_tensor]`` → (n, 3, H, W) uint8, like a tensor."""

    def __init__(self, sources: Sequence[ImageSource], size: tuple[int, int], workers: int = 2) -> None:
        self.sources, self.size, self.workers = list(sources), tuple(size), workers

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: torch.Tensor | slice) -> torch.Tensor:
        picked = range(len(self.sources))[index] if isinstance(index, slice) else torch.as_tensor(index).tolist()
        return decode_images([self.sources[i] for i in picked], self.size, self.workers, desc=None)


@dataclass
class PairSet:
    """Images and the captions that describe them.

    Attributes:
        images: (N, 3, H, W) uint8 tensor, or ``ImageFiles`` decoding them on access.
        captions: M captions.
        caption_image: (M,) index into ``images`` of each caption's image.
        caption_group: (M,) group id; two pairs with the same group are both positives.
    """

    images: torch.Tensor | ImageFiles
    captions: list[str]
    caption_image: torch.Tensor
    caption_group: torch.Tensor

    def __len__(self) -> int:
        return len(self.captions)


def concat_pairs(parts: Sequence[PairSet]) -> PairSet:
    """One set from several, with image indices and groups kept apart."""
    images, captions, image_idx, groups = [], [], [], []
    image_offset = group_offset = 0
    for part in parts:
        images.append(part.images)
        captions.extend(part.captions)
        image_idx.append(part.caption_image + image_offset)
        groups.append(part.caption_group + group_offset)
        image_offset += len(part.images)
        group_offset += int(part.caption_group.max()) + 1 if len(part) else 0
    return PairSet(torch.cat(images), captions, torch.cat(image_idx), torch.cat(groups))


def decode_images(sources: Sequence[ImageSource], size: tuple[int, int], workers: int = 2,
                  desc: str | None = "decoding") -> torch.Tensor:
    """Decode and resize every image once → (N, 3, H, W) uint8 (training needs all of them: errors raise).

    ``desc`` labels the progress bar; None shows none (one training batch).
    """
    def load(source: ImageSource) -> torch.Tensor:
        image = source() if callable(source) else open_image(source)
        return resize_uint8(image, size)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        out = list(tqdm(pool.map(load, sources), total=len(sources), desc=desc, unit="img", leave=False,
                        disable=desc is None))
    h, w = size
    return torch.stack(out) if out else torch.empty(0, 3, h, w, dtype=torch.uint8)


def build_pairs(sources: Sequence[ImageSource], pairs: Sequence[tuple[int, str, int]],
                size: tuple[int, int], desc: str = "decoding", lazy: bool = False) -> PairSet:
    """``pairs`` are (image index into ``sources``, caption, group id); group ids are renumbered 0..G-1.

    ``lazy`` keeps the images as ``ImageFiles`` (decoded per batch) instead of decoding them all now.
    """
    _, group = np.unique(np.array([g for _, _, g in pairs], dtype=np.int64), return_inverse=True)
    return PairSet(images=ImageFiles(sources, size) if lazy else decode_images(sources, size, desc=desc),
                   captions=[c for _, c, _ in pairs],
                   caption_image=torch.tensor([i for i, _, _ in pairs], dtype=torch.long),
                   caption_group=torch.from_numpy(group.astype(np.int64)))


def iter_images(images: torch.Tensor | ImageFiles, batches: Sequence[torch.Tensor],
                workers: int = 0) -> Iterator[torch.Tensor]:
    """The uint8 images of each batch of indices, in order; ``workers`` > 0 decodes ahead in processes."""
    if workers <= 0 or isinstance(images, torch.Tensor):
        return (images[b] for b in batches)
    from torch.utils.data import DataLoader

    return iter(DataLoader(_Indexed(images), batch_size=None, sampler=list(batches), num_workers=workers,
                           persistent_workers=False, pin_memory=torch.cuda.is_available()))


class _Indexed(torch.utils.data.Dataset):
    """``ImageFiles`` as a map-style dataset whose "index" is a whole batch of image indices."""

    def __init__(self, images: ImageFiles) -> None:
        self.images = ImageFiles(images.sources, images.size, workers=1)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, batch: torch.Tensor) -> torch.Tensor:
        return self.images[batch]


def drop_clauses(caption: str, p: float, rng: np.random.Generator) -> str:
    """Drop each clause but the first with probability ``p`` (short queries then match too).

    The first clause names the subject and the dominant garment, so it is kept.
    """
    clauses = _CLAUSE.findall(caption)
    if p <= 0 or len(clauses) < 2:
        return caption
    kept = [clauses[0]] + [c for c in clauses[1:] if rng.random() >= p]
    return "".join(kept).strip()


def augment(images: torch.Tensor, cfg: AugmentConfig, rng: np.random.Generator) -> torch.Tensor:
    """Random shift, brightness and optional flip on a uint8 batch → float in [0, 1].

    Hue is never changed: the captions name colours.
    """
    x = images.float() / 255.0
    n, _, h, w = x.shape
    if cfg.shift > 0:
        s = cfg.shift
        padded = F.pad(x, (s, s, s, s), mode="replicate")
        dy, dx = rng.integers(0, 2 * s + 1, size=(2, n))
        x = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    if cfg.brightness > 0:
        scale = 1.0 + rng.uniform(-cfg.brightness, cfg.brightness, size=n)
        x = (x * torch.from_numpy(scale).float().view(n, 1, 1, 1)).clamp(0.0, 1.0)
    if cfg.flip:
        flip = torch.from_numpy(rng.random(n) < 0.5)
        x[flip] = x[flip].flip(-1)
    return x


def positives(image_index: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """(B, B) bool: pair i's caption matches pair j's image (same image or same group)."""
    return (image_index[:, None] == image_index[None, :]) | (group[:, None] == group[None, :])


def build_vocab(captions: Sequence[str], min_count: int = 1) -> list[str]:
    """Words of the training captions seen at least ``min_count`` times, most frequent first."""
    counts = Counter(tok for caption in captions for tok in TinyTokenizer.split(caption))
    return [w for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]


__all__ = ["ImageFiles", "iter_images", "PairSet", "concat_pairs", "decode_images", "build_pairs", "drop_clauses", "augment",
           "positives", "build_vocab"]
