"""Person-retrieval image transforms (seed API ``calibclip.datasets.build_transforms``).

Follows IRRA's ``datasets/build.py`` (github.com/anosorae/IRRA): resize to 384×128,
normalise with CLIP's statistics; training adds a horizontal flip, 10-pixel
padding with a random crop back to size, and random erasing filled with the mean.
Resizing is bicubic, as in CLIP's own preprocessing.
"""
from __future__ import annotations

from typing import Sequence

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def build_transforms(is_train: bool = False, image_size: Sequence[int] = (384, 128),
                     mean: Sequence[float] = CLIP_MEAN, std: Sequence[float] = CLIP_STD):
    """PIL image → normalised (3, H, W) tensor; ``is_train`` adds IRRA's augmentations.

    Example:
        >>> transform = build_transforms(is_train=False, image_size=(384, 128))
        >>> transform(pil_image).shape
        torch.Size([3, 384, 128])
    """
    import torchvision.transforms as T

    height, width = (int(v) for v in image_size)
    resize = T.Resize((height, width), interpolation=T.InterpolationMode.BICUBIC)
    to_tensor = [T.ToTensor(), T.Normalize(mean=list(mean), std=list(std))]
    if not is_train:
        return T.Compose([resize, *to_tensor])
    return T.Compose([resize, T.RandomHorizontalFlip(0.5), T.Pad(10), T.RandomCrop((height, width)), *to_tensor,
                      T.RandomErasing(scale=(0.02, 0.4), value=list(mean))])
