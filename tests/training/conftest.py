"""Shared fixtures for the training tests: one small generated person set, small model configs."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from calibclip.datasets.synthetic_pedes import generate_pedes
from calibclip.training.config import load_train_config

SMALL_MODEL = {"image_size": [64, 32], "patch_size": 16, "vision_width": 32, "vision_layers": 1,
               "vision_heads": 2, "text_width": 32, "text_layers": 1, "text_heads": 2, "context_length": 48,
               "embed_dim": 16}
NO_AUGMENT = {"clause_dropout": 0.0, "shift": 0, "brightness": 0.0, "flip": False}


@pytest.fixture(scope="session")
def pedes_root(tmp_path_factory) -> Path:
    """A handful of generated person images (9 identities, ~27 images) in the CUHK-PEDES layout."""
    out = tmp_path_factory.mktemp("pedes")
    return Path(generate_pedes(out, seed=5, ids=9)["roots"]["cuhkpedes"])


@pytest.fixture(scope="session")
def pedes_24(tmp_path_factory) -> Path:
    """24 generated identities: enough people per dominant attribute to form hard batches."""
    out = tmp_path_factory.mktemp("pedes24")
    return Path(generate_pedes(out, seed=11, ids=24)["roots"]["cuhkpedes"])


@pytest.fixture
def small_config():
    """``small_config(**overrides)`` → a ``TrainConfig`` of a one-layer TinyCLIP at 64×32, no augmentation."""
    def make(**overrides):
        data = {"seed": 0, "model": SMALL_MODEL, "augment": NO_AUGMENT,
                "optim": {"batch_size": 8, "lr": 3e-3, "warmup_steps": 1}, **overrides}
        return load_train_config(None, data)
    return make


@pytest.fixture
def write_config():
    """``write_config(folder, **overrides)`` → a one-epoch training YAML on 9 generated identities."""
    def write(folder: Path, **overrides) -> Path:
        cfg = {"seed": 0, "epochs": 1, "model": SMALL_MODEL, "augment": NO_AUGMENT,
               "optim": {"batch_size": 16, "warmup_steps": 2},
               "data": {"pedes_ids": 9, "use_tigr": False, "val_max_images": 20}, **overrides}
        path = folder / "train.yaml"
        path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
        return path
    return write
