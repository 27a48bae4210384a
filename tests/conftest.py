"""Fixtures shared by the index, search, web and CLI tests: a micro TinyCLIP and generated photo folders.

The micro model is a real TinyCLIP (ViT + text transformer, random weights) shrunk
to 32×32 pixels and 32 dimensions and saved as a real checkpoint, so the CLI
loads it by spec (``tiny:/path``) and a few hundred images index in seconds.
Fixtures are created only when a test asks for them.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

MICRO = dict(image_size=(32, 32), patch_size=8, vision_width=32, vision_layers=2, vision_heads=2, text_width=32,
             text_layers=2, text_heads=2, context_length=32, embed_dim=32)
VOCAB = ("a the man woman person dog cat car red blue green black white yellow coat shirt bag hat in with and "
         "no not without on of").split()
# The micro model carries a preset (as a checkpoint may) whose selections always act: random weights have
# no register tokens and no word frequencies, and these tests check the mechanics of calibrated search.
ACTING_PRESET = {"dominant_select": "attention", "mask_select": "attention"}


def save_micro_checkpoint(path: Path) -> str:
    """Write the micro TinyCLIP checkpoint → its backbone spec."""
    from calibclip.backbones.tiny import save_tiny_checkpoint
    from calibclip.backbones.tiny_model import TinyCLIP, TinyConfig

    torch.manual_seed(0)
    save_tiny_checkpoint(TinyCLIP(TinyConfig(**MICRO, vocab=list(VOCAB))), path, half=False,
                         extra={"calibration_preset": ACTING_PRESET})
    return f"tiny:{path}"


def write_image_folder(folder: Path, count: int, seed: int = 0, start: int = 0, size: tuple[int, int] = (40, 32),
                       suffix: str = ".png") -> list[Path]:
    """``count`` distinct pictures (a coloured block on noise) named ``img_<n>``, n from ``start``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        pixels = rng.integers(0, 80, (size[1], size[0], 3), dtype=np.uint8)
        top, left = (int(v) for v in rng.integers(0, 12, 2))
        pixels[top:top + 16, left:left + 20] = rng.integers(0, 256, 3, dtype=np.uint8)
        path = folder / f"img_{i:04d}{suffix}"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def run_calibclip(*args, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """``calibclip ARGS`` in a fresh process (one torch thread: steady timing on a shared machine)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **kwargs.pop("env", {})}
    return subprocess.run([sys.executable, "-m", "calibclip.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env, **kwargs)


@pytest.fixture(scope="session")
def micro_spec(tmp_path_factory) -> str:
    """Backbone spec of the micro TinyCLIP checkpoint (saved once per session)."""
    return save_micro_checkpoint(tmp_path_factory.mktemp("micro") / "micro.pt")


@pytest.fixture(scope="session")
def micro_backbone(micro_spec):
    from calibclip.backbones import load_backbone

    return load_backbone(micro_spec, "cpu")


@pytest.fixture(scope="session")
def write_images():
    """``write_images(folder, count, seed=0, start=0, size=(40, 32), suffix=".png")`` → the paths written."""
    return write_image_folder


@pytest.fixture(scope="session")
def cli():
    """``cli(*args)``: ``calibclip ARGS`` in a fresh process → ``CompletedProcess``."""
    return run_calibclip
