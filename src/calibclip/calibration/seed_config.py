"""Typed form of the seed CalibCLIP YAML (``configs/base.yaml`` and the per-dataset files).

The ``model:``, ``data:`` and ``evaluation:`` sections carry exactly the keys of
the seed README's ``configs/base.yaml``; ``calibration:`` holds the
training-free knobs (``CalibrationConfig``), ``backbone:`` picks the encoder,
``dataset:`` names the benchmark layout and ``train:`` holds the training knobs
``tools/train.py`` reads (``calibclip.training.config.TrainConfig`` keys; checked
there, as this layer does not know training). Unknown keys fail.

Example:
    >>> cfg = load_seed_config("configs/cuhkpedes.yaml")
    >>> cfg.data.image_size, cfg.dataset.layout
    ((384, 128), 'cuhkpedes')
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibclip.config import CalibrationConfig, from_dict, read_yaml, to_dict
from calibclip.errors import ConfigError

# ``backbone:`` value meaning "the CLIP ViT described by ``model:``, built by build_calibclip".
SEED_BACKBONE = "calibclip"

# Seed dataset names (``--datasets cuhkpedes icfgpedes rstp``); each folder's layout is detected.
DATASET_NAMES = ("cuhkpedes", "icfgpedes", "rstp", "rstpreid")


@dataclass
class CveCfg:
    """Trainable Calibrated Vision Encoder head (seed ``model.cve``; ``calibclip.backbones.cve_head``)."""

    enabled: bool = True                # train a head / use the head a checkpoint carries
    num_heads: int = 8                  # attention heads per layer
    num_layers: int = 2                 # transformer layers over the last-layer tokens
    dropout: float = 0.1                # dropout inside the head (training only)


@dataclass
class DccCfg:
    """Dual Curriculum Contrastive learning (seed ``model.dcc``; ``calibclip.training.curriculum``).

    Each curriculum lists the epochs (counted from 0) where it steps up; each rate
    list has one value per stage, before the first listed epoch and after each.
    """

    enabled: bool = True                # train with the curricula (off: CLIP's loss, learned temperature)
    temperature: float | None = 0.07    # contrastive temperature (null: learned, as CLIP)
    image_curriculum_epochs: list[int] = field(default_factory=lambda: [10, 20, 30])  # image-level steps
    text_curriculum_epochs: list[int] = field(default_factory=lambda: [15, 25, 35])   # text-level steps
    image_hard_ratios: list[float] = field(default_factory=lambda: [0.0, 0.125, 0.25, 0.5])  # hard share of a batch
    text_mask_rates: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3])  # dominant words removed
    text_swap_rates: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3])  # dominant colour swapped
    sdm_weight: float = 0.0             # weight of IRRA's similarity-distribution-matching loss (0: off)


@dataclass
class ModelCfg:
    """Architecture of the seed model: CLIP ViT-B/16 by default (seed ``model:``)."""

    name: str = "calibclip"             # informational
    embed_dim: int = 512                # joint embedding size
    vision_layers: int = 12             # ViT blocks
    vision_width: int = 768             # ViT width (heads = width / 64)
    vision_patch_size: int = 16         # 384×128 / 16 → a 24×8 patch grid
    text_layers: int = 12               # text transformer blocks
    text_width: int = 512               # text transformer width
    text_heads: int = 8                 # text attention heads
    vocab_size: int = 49408             # CLIP BPE vocabulary
    quick_gelu: bool = True             # OpenAI's activation; false for open_clip weights trained with GELU (LAION)
    cve: CveCfg = field(default_factory=CveCfg)
    dcc: DccCfg = field(default_factory=DccCfg)


@dataclass
class DataCfg:
    """Input sizes (seed ``data:``)."""

    image_size: tuple[int, int] = (384, 128)  # (H, W) of the person crops
    max_length: int = 77                      # text context length in tokens

    def __post_init__(self) -> None:
        size = tuple(self.image_size) if isinstance(self.image_size, (list, tuple)) else ()
        if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
            raise ConfigError(f"data.image_size must be [height, width] in pixels, got {self.image_size!r}")
        self.image_size = size
        _positive("data.max_length", self.max_length)


@dataclass
class EvaluationCfg:
    """Evaluation settings (seed ``evaluation:``)."""

    batch_size: int = 128               # images / captions per encoder batch

    def __post_init__(self) -> None:
        _positive("evaluation.batch_size", self.batch_size)


@dataclass
class DatasetCfg:
    """Which benchmark a config is for (set by the per-dataset configs)."""

    name: str = "custom"                # cuhkpedes | icfgpedes | rstpreid | any label
    layout: str | None = None           # cuhkpedes | icfgpedes | rstpreid | annotations; None = detect
    split: str = "test"                 # split evaluated


@dataclass
class SeedConfig:
    """The whole seed config: what ``scripts/evaluate.py --config`` reads."""

    backbone: str = SEED_BACKBONE       # "calibclip" (the model below) or any backbone spec
    model: ModelCfg = field(default_factory=ModelCfg)
    data: DataCfg = field(default_factory=DataCfg)
    evaluation: EvaluationCfg = field(default_factory=EvaluationCfg)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    dataset: DatasetCfg = field(default_factory=DatasetCfg)
    train: dict[str, Any] = field(default_factory=dict)  # training knobs (TrainConfig keys) for tools/train.py


def _positive(where: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{where} must be a positive integer, got {value!r}")


def load_seed_config(path: str | Path | None = None) -> SeedConfig:
    """Read a seed YAML (following ``_base_``) into a ``SeedConfig``; ``None`` gives the defaults."""
    if path is None:
        return SeedConfig()
    return from_dict(SeedConfig, read_yaml(path), where=str(path))


def seed_config_dict(cfg: SeedConfig) -> dict[str, Any]:
    """``SeedConfig`` → plain YAML-ready dict (tuples become lists), for ``resolved.yaml``."""
    data = to_dict(cfg)
    data["data"]["image_size"] = list(cfg.data.image_size)
    return data


__all__ = ["SeedConfig", "ModelCfg", "CveCfg", "DccCfg", "DataCfg", "EvaluationCfg", "DatasetCfg",
           "SEED_BACKBONE", "DATASET_LAYOUTS", "load_seed_config", "seed_config_dict"]
