"""``TrainConfig``: every knob of ``calibclip train`` as typed data (STYLE rule 4).

Loaded from YAML with ``calibclip.config.read_yaml``/``from_dict`` (unknown keys
fail), then CLI flags override it, and the resolved config is saved next to the
checkpoint as ``resolved.yaml``.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibclip.config import from_dict, read_yaml, to_dict
from calibclip.errors import ConfigError

# declared type → what a YAML value may be (YAML has no tuples; ints are valid floats)
_KINDS: dict[Any, tuple[type, ...]] = {tuple: (tuple, list), float: (float, int)}


@dataclass
class ModelConfig:
    """TinyCLIP architecture (``TinyConfig`` minus the vocabulary, which is built from the data)."""

    image_size: tuple[int, int] = (128, 48)  # (H, W) every training image is resized to
    patch_size: int = 16                     # ViT patch side in pixels
    conv_stem: bool = True                   # convolutional stem (Xiao et al. 2021) instead of patchify
    vision_width: int = 128                  # vision transformer width
    vision_layers: int = 4                   # vision transformer depth
    vision_heads: int = 4                    # attention heads per vision block
    text_width: int = 128                    # text transformer width
    text_layers: int = 4                     # text transformer depth
    text_heads: int = 4                      # attention heads per text block
    context_length: int = 64                 # text positions, <sot> and <eot> included
    embed_dim: int = 128                     # joint embedding size
    min_word_count: int = 1                  # words seen fewer times in training become <unk>


@dataclass
class DataConfig:
    """Which synthetic data is generated for training, and how much."""

    pedes_seed: int = 1000                   # generator seed of the training person set
    pedes_ids: int | None = 4050             # identities (None: the generator's default scale)
    joined_captions: bool = True             # also train on each image's captions joined (full description)
    resample_captions: bool = True           # fresh person captions each epoch, from the exact attributes
    tigr_seed: int = 2000                    # generator seed of the training scene set
    tigr_scale: str = "default"              # "small" | "default"
    langs: tuple[str, ...] = ("en", "zh")    # caption languages of the scene set
    use_tigr: bool = True                    # mix compositional scenes into the batches
    tigr_max_scenes: int | None = 1000       # training scenes used (None: all); balances the two sources
    val_max_images: int = 400                # cap on validation gallery size (speed)


@dataclass
class OptimConfig:
    """AdamW + linear warmup + cosine decay, as CLIP."""

    batch_size: int = 64                     # pairs per step (in-batch negatives)
    lr: float = 1e-3                         # peak learning rate
    weight_decay: float = 0.1                # AdamW decay (not on norms, biases, embeddings)
    warmup_steps: int = 100                  # linear warmup from 0 to ``lr``
    min_lr_ratio: float = 0.02               # cosine floor as a share of ``lr``
    grad_clip: float = 1.0                   # max global grad norm (0: off)
    max_logit_scale: float = 4.6052          # ln(100), CLIP's clamp on the temperature


@dataclass
class AugmentConfig:
    """Light augmentation; colours are never jittered in hue (colour is what captions name)."""

    clause_dropout: float = 0.3              # chance to drop each non-first clause of a caption
    shift: int = 6                           # max random translation in pixels
    brightness: float = 0.15                 # ± multiplicative brightness jitter
    flip: bool = False                       # horizontal flip (off: captions may say left/right)


@dataclass
class TrainConfig:
    """Everything ``calibclip train`` needs; the defaults are ``configs/tiny.yaml``, the shipped ``tiny``."""

    seed: int = 0                            # torch/numpy/python seed of the training run
    epochs: int = 10                         # passes over the training pairs
    device: str = "cpu"                      # "auto" | "cpu" | "cuda"
    threads: int = 2                         # torch CPU threads
    out: str = "runs/tiny"                   # output folder (last.pt, best.pt, resolved.yaml, log)
    data_dir: str | None = None              # generated-data cache (None: ~/.cache/calibclip/train-data)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


def load_train_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """YAML file (or defaults) → ``TrainConfig``, then non-None top-level ``overrides`` (CLI flags)."""
    data = read_yaml(path) if path else {}
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    cfg = from_dict(TrainConfig, data, where=str(path or "train config"))
    return _normalise(cfg)


def _check_types(obj: Any, where: str) -> None:
    """Every field holds its declared kind (YAML ``epochs: ten`` must fail here, not mid-training)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value, hint = getattr(obj, f.name), hints[f.name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, hint):
                raise ConfigError(f"{where}.{f.name} must be a mapping, got {value!r}")
            _check_types(value, f"{where}.{f.name}")
            continue
        declared = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        names = [getattr(t, "__name__", str(t)).replace("NoneType", "null").replace("tuple", "list") for t in declared]
        kinds = tuple(k for t in declared for k in _KINDS.get(typing.get_origin(t) or t, (t,)))
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ConfigError(f"{where}.{f.name} has the wrong type: {value!r}", f"expected {' or '.join(names)}")


def _normalise(cfg: TrainConfig) -> TrainConfig:
    """Lists from YAML → tuples, and range checks that would otherwise fail deep in training."""
    _check_types(cfg, "config")
    cfg.model.image_size = tuple(cfg.model.image_size)
    cfg.data.langs = tuple(cfg.data.langs)
    h, w = cfg.model.image_size
    if h % cfg.model.patch_size or w % cfg.model.patch_size:
        raise ConfigError(f"model.image_size {cfg.model.image_size} is not a multiple of "
                          f"model.patch_size {cfg.model.patch_size}", "pick sizes divisible by the patch")
    if cfg.epochs < 1 or cfg.optim.batch_size < 2:
        raise ConfigError(f"epochs ({cfg.epochs}) must be ≥ 1 and optim.batch_size "
                          f"({cfg.optim.batch_size}) ≥ 2", "contrastive training needs in-batch negatives")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda, got {cfg.device!r}")
    if not 0.0 <= cfg.augment.clause_dropout < 1.0:
        raise ConfigError(f"augment.clause_dropout must be in [0, 1), got {cfg.augment.clause_dropout}")
    return cfg


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain YAML-safe dict (tuples become lists)."""
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value
    return plain(to_dict(cfg))
