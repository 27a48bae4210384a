"""What a run trains and validates on: generated synthetic sets, or a person-retrieval dataset folder.

Generated sets (``data.root`` unset) are decoded into memory once; a dataset
folder (``data.root``, any layout ``load_pedes`` reads) keeps its images on
disk and decodes each batch (``ImageFiles``). Either way every training pair
carries its dominant attribute (``pedes_keys``) for the image curriculum.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from calibclip.errors import DatasetLayoutError
from calibclip.training.config import TrainConfig
from calibclip.training.data import PairSet, concat_pairs
from calibclip.training.model import input_size
from calibclip.datasets.generated import default_data_dir, ensure_pedes, ensure_tigr
from calibclip.datasets.synthetic_pedes import PedesOptions
from calibclip.training.synthetic import (CaptionPlan, pedes_keys, pedes_pairs, pedes_recaptioner, seen_combinations,
                                          tigr_pairs, tigr_recaptioner)

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """Pairs to train on, the person split to validate on, and where they came from."""

    train: PairSet
    val: PairSet
    keys: list[str | None]              # dominant attribute of every training pair (None: none)
    val_root: Path                      # the dataset folder validated on
    val_split: str                      # its split ("val", or "test" where a dataset has no val split)
    sources: dict[str, str]
    seeds: dict[str, int | None] = field(default_factory=dict)
    seen: dict[str, list[str]] = field(default_factory=dict)  # attribute combinations present in training
    recaption: Callable[[np.random.Generator], list[str]] | None = None  # fresh captions for the first pairs


def load_training_data(cfg: TrainConfig) -> TrainingData:
    """The generated sets, or ``data.root``, at the model's input size."""
    return _folder(cfg) if cfg.data.root else _synthetic(cfg)


def _synthetic(cfg: TrainConfig) -> TrainingData:
    data_dir = Path(cfg.data_dir) if cfg.data_dir else default_data_dir()
    size, d = input_size(cfg), cfg.data
    pedes_root = ensure_pedes(data_dir, d.pedes_seed, d.pedes_ids, PedesOptions(style=d.style))
    plan = CaptionPlan(d.pedes_langs, d.salient_share, cfg.seed)
    custom = plan != CaptionPlan(seed=cfg.seed)   # other languages or web style: captions drawn from attributes
    pedes = pedes_pairs(pedes_root, "train", size, joined=d.joined_captions, captions=plan if custom else None)
    parts, keys, samplers = [pedes], pedes_keys(pedes_root, pedes), []
    if d.resample_captions:
        samplers.append(pedes_recaptioner(pedes_root, "train", d.joined_captions, plan))
    sources = {"pedes": str(pedes_root)}
    tigr_root, scenes = None, None
    if d.use_tigr:
        tigr_root = ensure_tigr(data_dir, d.tigr_seed, d.tigr_scale, d.langs, d.style)
        tigr, scenes = tigr_pairs(tigr_root, d.langs, size, d.tigr_max_scenes)
        if d.caption_style == "web":  # the stored captions are the full descriptions
            scene_captions = tigr_recaptioner(tigr_root, scenes, d.langs, d.salient_share)
            tigr.captions = scene_captions(np.random.default_rng([cfg.seed, 1]))
            samplers += [scene_captions] * bool(samplers)
        parts.append(tigr)
        keys += [None] * len(tigr)
        sources["tigr"] = str(tigr_root)
    val = pedes_pairs(pedes_root, "val", size, max_images=d.val_max_images)
    train = concat_pairs(parts)
    log.info("training pairs: %d captions over %d images; validation: %d captions", len(train),
             len(train.images), len(val))
    seeds = {"pedes": d.pedes_seed, "tigr": d.tigr_seed if d.use_tigr else None}
    return TrainingData(train=train, val=val, keys=keys, val_root=pedes_root, val_split="val", sources=sources,
                        seeds=seeds, seen=seen_combinations(pedes_root, tigr_root, scenes),
                        recaption=_chain(samplers) if samplers else None)


def _chain(samplers: list[Callable[[np.random.Generator], list[str]]]) -> Callable[[np.random.Generator], list[str]]:
    """One recaptioner over consecutive parts of the training pairs (person pairs first, then scenes)."""
    return lambda rng: [text for sample in samplers for text in sample(rng)]


def _folder(cfg: TrainConfig) -> TrainingData:
    root, layout, size = Path(cfg.data.root), cfg.data.layout, input_size(cfg)
    train = pedes_pairs(root, "train", size, layout=layout, lazy=True)
    val_split = "val"
    try:
        val = pedes_pairs(root, val_split, size, max_images=cfg.data.val_max_images, layout=layout, lazy=True)
    except DatasetLayoutError:  # ICFG-PEDES has train and test only; IRRA validates on test there
        val_split = "test"
        log.warning("%s has no val split: validating on its test split", root)
        val = pedes_pairs(root, val_split, size, max_images=cfg.data.val_max_images, layout=layout, lazy=True)
    keys = pedes_keys(root, train, layout=layout)
    log.info("training pairs: %d captions over %d images (%d with a dominant attribute); validation: %d captions",
             len(train), len(train.images), sum(k is not None for k in keys), len(val))
    return TrainingData(train=train, val=val, keys=keys, val_root=root, val_split=val_split,
                        sources={"dataset": str(root)})


__all__ = ["TrainingData", "load_training_data"]
