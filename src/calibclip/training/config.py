"""``TrainConfig``: every knob of ``calibclip train`` / ``tools/train.py`` as typed data (STYLE rule 4).

Loaded from YAML with ``calibclip.config.read_yaml``/``from_dict`` (unknown keys
fail), then CLI flags override it, and the resolved config is saved next to the
checkpoint as ``resolved.yaml``. A seed YAML (``configs/cuhkpedes.yaml``: the
``model:``/``data:`` of the CLIP ViT, ``model.cve``/``model.dcc``, and a
``train:`` section of these keys) becomes the same ``TrainConfig``
(``train_config_from_seed``), so both commands run one engine.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibclip.calibration.seed_config import SEED_BACKBONE, CveCfg, DccCfg, SeedConfig, seed_config_dict
from calibclip.config import deep_merge, from_dict, read_yaml, to_dict
from calibclip.errors import ConfigError
from calibclip.training.curriculum import check_curriculum

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
    """What is trained on: generated synthetic sets (the default), or a person-retrieval dataset folder."""

    root: str | None = None                  # dataset folder (train split; val split validates); None: synthetic
    layout: str | None = None                # its layout (cuhkpedes | icfgpedes | rstpreid | annotations; None: detect)
    workers: int = 0                         # DataLoader processes decoding a dataset folder's images (GPU runs)
    pedes_seed: int = 1000                   # generator seed of the training person set
    pedes_ids: int | None = 4050             # identities (None: the generator's default scale)
    joined_captions: bool = True             # also train on each image's captions joined (full description)
    resample_captions: bool = True           # fresh person captions each epoch, from the exact attributes
    tigr_seed: int = 2000                    # generator seed of the training scene set
    tigr_scale: str = "default"              # "small" | "default"
    langs: tuple[str, ...] = ("en", "zh")    # caption languages of the scene set
    pedes_langs: tuple[str, ...] = ("en",)   # caption languages of the person set (two captions each per image)
    style: str = "classic"                   # drawing style family of the generated sets: classic | train
    caption_style: str = "detailed"          # detailed | web (a share of captions names only the salient subject)
    salient_share: float = 0.0               # web: chance a caption is salient-only (detailed: must be 0)
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
    steps_per_epoch: int | None = None       # cap on the steps of an epoch (None: one pass over the pairs)


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
    backbone: str = "tiny"                   # "tiny" (TinyCLIP) | "calibclip" (the open_clip CLIP ViT of ``clip``)
    init: str | None = None                  # start weights: None = new model; tiny | tiny-web (shipped); a file
    clip: dict[str, Any] | None = None       # calibclip: the seed config's sections (None: configs/base.yaml's)
    amp: bool = True                         # bf16 autocast on CUDA (CPU runs stay fp32)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    cve: CveCfg = field(default_factory=lambda: CveCfg(enabled=False))
    dcc: DccCfg = field(default_factory=lambda: DccCfg(enabled=False, temperature=None))


BACKBONES = ("tiny", SEED_BACKBONE)
_SEED_ONLY = {"evaluation", "dataset", "calibration", "train"}  # sections only a seed YAML has


def load_train_config(path: str | Path | None, overrides: dict[str, Any] | None = None,
                      data_root: str | None = None) -> TrainConfig:
    """Training or seed YAML (or defaults) → ``TrainConfig``, then non-None ``overrides`` (CLI flags).

    An override key may be dotted (``"optim.lr"``) to set one key of a section.
    ``data_root`` (``--data_root``) sets ``data.root``: train on that dataset folder.
    """
    where = str(path or "train config")
    data = read_yaml(path) if path else {}
    if set(data) & _SEED_ONLY:
        data = train_config_from_seed(data, where)
    for key, value in {**(overrides or {}), "data.root": data_root}.items():
        if value is not None:
            *sections, name = key.split(".")
            nested = {name: value}
            for section in reversed(sections):
                nested = {section: nested}
            data = deep_merge(data, nested)
    return _normalise(from_dict(TrainConfig, data, where=where))


def train_config_from_seed(seed_data: dict[str, Any], where: str = "seed config") -> dict[str, Any]:
    """A seed YAML's mapping → ``TrainConfig`` keys: its ``train:`` section, ``model.cve``/``model.dcc``,
    the dataset layout, and the rest of the seed config as ``clip`` (the model to build and save)."""
    seed = from_dict(SeedConfig, seed_data, where=where)
    if seed.backbone != SEED_BACKBONE:
        raise ConfigError(f"{where}: tools/train.py trains the calibclip model, not backbone {seed.backbone!r}",
                          "set backbone: calibclip (weights in train.init), or train tiny with configs/tiny.yaml")
    train = dict(seed.train)
    clip = seed_config_dict(seed)
    for key in ("train", "backbone"):
        clip.pop(key)
    cve, dcc = clip["model"].pop("cve"), clip["model"].pop("dcc")
    data = {"layout": seed.dataset.layout, **(train.pop("data", None) or {})}
    return {**train, "backbone": SEED_BACKBONE, "clip": clip, "cve": cve, "dcc": dcc, "data": data}


def seed_model_config(cfg: TrainConfig) -> SeedConfig:
    """The calibclip model's seed config, with the CVE/DCC sections the training uses."""
    seed = from_dict(SeedConfig, cfg.clip or {}, where="config.clip")
    return dataclasses.replace(seed, model=dataclasses.replace(seed.model, cve=cfg.cve, dcc=cfg.dcc))


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
        origins = [typing.get_origin(t) or t for t in declared]
        kinds = tuple(k for t in origins for k in _KINDS.get(t, (t,)))
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ConfigError(f"{where}.{f.name} has the wrong type: {value!r}", f"expected {' or '.join(names)}")


def _normalise(cfg: TrainConfig) -> TrainConfig:
    """Lists from YAML → tuples, and range checks that would otherwise fail deep in training."""
    _check_types(cfg, "config")
    cfg.model.image_size = tuple(cfg.model.image_size)
    cfg.data.langs = tuple(cfg.data.langs)
    cfg.init = None if cfg.init == "none" else cfg.init  # --init none: a new (random) model
    cfg.data.pedes_langs = tuple(cfg.data.pedes_langs)
    _check_data(cfg.data)
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
    if cfg.backbone not in BACKBONES:
        raise ConfigError(f"backbone must be one of {', '.join(BACKBONES)}, got {cfg.backbone!r}",
                          "tiny: TinyCLIP; calibclip: an open_clip CLIP ViT (weights from init)")
    if cfg.backbone == SEED_BACKBONE:
        seed_model_config(cfg)  # a bad clip: section fails here, not after the data is loaded
    if cfg.optim.steps_per_epoch is not None and cfg.optim.steps_per_epoch < 1:
        raise ConfigError(f"optim.steps_per_epoch must be >= 1 or null, got {cfg.optim.steps_per_epoch}")
    if cfg.dcc.enabled:
        check_curriculum(cfg.dcc)
    return cfg


def _check_data(data: DataConfig) -> None:
    """Languages, drawing style and caption style of the generated training sets."""
    bad = [lang for lang in (*data.langs, *data.pedes_langs) if lang not in ("en", "zh")]
    if bad or not data.pedes_langs or not data.langs:
        raise ConfigError("data.langs / data.pedes_langs must be non-empty lists of en, zh; "
                          f"got {bad or 'an empty list'}")
    if data.style not in ("classic", "train"):
        raise ConfigError(f"data.style must be classic or train, got {data.style!r}",
                          "the heldout drawing style is for evaluation only (calibclip heldout --style heldout)")
    if data.caption_style not in ("detailed", "web"):
        raise ConfigError(f"data.caption_style must be detailed or web, got {data.caption_style!r}")
    web = data.caption_style == "web"
    if not (0.0 < data.salient_share <= 1.0 if web else data.salient_share == 0.0):
        raise ConfigError(f"data.salient_share {data.salient_share} does not fit caption_style {data.caption_style}",
                          "web takes a share in (0, 1]; detailed captions take 0")
    if data.root is not None and (web or data.pedes_langs != ("en",) or data.style != "classic"):
        raise ConfigError("data.caption_style, data.pedes_langs and data.style apply to generated sets, not data.root",
                          "remove them, or remove data.root")


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain YAML-safe dict (tuples become lists)."""
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value
    return plain(to_dict(cfg))
