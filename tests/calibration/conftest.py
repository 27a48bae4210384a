"""Shared fixtures for the CalibCLIP tests: a random-weight tiny backbone and images on disk."""
import importlib.util
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


def _backbone_fixtures():
    """The tiny real-architecture fixtures of ``tests/backbones/conftest.py``, loaded once by path.

    They build open_clip / transformers models of the real classes offline; re-exported here so
    the calibration tests run on the same models without a copy of the builders.
    """
    path = Path(__file__).resolve().parent.parent / "backbones" / "conftest.py"
    spec = importlib.util.spec_from_file_location("calibration_backbone_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fixtures = _backbone_fixtures()
_hub_offline = _fixtures._hub_offline
openclip_arches = _fixtures.openclip_arches
hf_clip_dir = _fixtures.hf_clip_dir
hf_chinese_clip_dir = _fixtures.hf_chinese_clip_dir
hf_siglip_dir = _fixtures.hf_siglip_dir
