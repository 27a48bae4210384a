"""Shared fixtures for the CalibCLIP tests: a random-weight tiny backbone and images on disk."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from calibclip.backbones import load_backbone


@pytest.fixture(scope="session")
def tiny_backbone():
    """Random-weight TinyCLIP (seeded inside the adapter): instant, deterministic."""
    return load_backbone("tiny:none", "cpu")


def _draw_people(folder: Path, count: int, size: tuple[int, int] = (64, 192), seed: int = 0) -> list[Path]:
    """Write ``count`` PNGs of coloured blocks on noise (distinct, structured images) → their paths."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 60, (size[1], size[0], 3), dtype=np.uint8)
        top = int(rng.integers(0, size[1] // 2))
        pixels[top:top + size[1] // 3, size[0] // 4: 3 * size[0] // 4] = rng.integers(0, 256, 3, dtype=np.uint8)
        path = folder / f"person_{i}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def draw_people():
    """The image writer itself, for tests that need other sizes or counts."""
    return _draw_people


@pytest.fixture
def gallery_paths(tmp_path) -> list[Path]:
    return _draw_people(tmp_path / "gallery", 7)
