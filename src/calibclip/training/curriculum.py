"""Dual curriculum: the schedule (data), the hard-negative batches and the caption transforms of each epoch.

* Image curriculum: from each epoch listed in ``image_curriculum_epochs`` on, a
  larger share of every batch (``image_hard_ratios``) is one cluster of
  different people who share the dominant attribute (same garment and colour),
  so the in-batch negatives differ only in the details.
* Text curriculum: from each epoch listed in ``text_curriculum_epochs`` on, a
  larger share of captions has its dominant words removed (``text_mask_rates``:
  the pair stays a positive, matched on the details alone) or gets a copy with
  the dominant colour swapped (``text_swap_rates``: an extra negative text).

Epochs count from 0; epoch e is in stage s = the number of listed epochs <= e,
and stage s uses the s-th value of each rate list.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from calibclip.calibration.seed_config import DccCfg
from calibclip.errors import ConfigError


@dataclass(frozen=True)
class Stage:
    """What one epoch's batches look like."""

    image_stage: int
    text_stage: int
    hard_share: float     # share of each batch that is one cluster sharing a dominant attribute
    mask_rate: float      # chance a caption loses its dominant words
    swap_rate: float      # chance a caption adds a colour-swapped negative


def check_curriculum(dcc: DccCfg) -> None:
    """Listed epochs ascending and >= 1; one rate per stage, each in [0, 1]."""
    lists = (("image_curriculum_epochs", "image_hard_ratios"), ("text_curriculum_epochs", "text_mask_rates"),
             ("text_curriculum_epochs", "text_swap_rates"))
    for epochs_key, rates_key in lists:
        epochs, rates = getattr(dcc, epochs_key), getattr(dcc, rates_key)
        if any(not isinstance(e, int) or e < 1 for e in epochs) or list(epochs) != sorted(set(epochs)):
            raise ConfigError(f"dcc.{epochs_key} must be increasing epochs >= 1, got {epochs}")
        if len(rates) != len(epochs) + 1:
            raise ConfigError(f"dcc.{rates_key} needs {len(epochs) + 1} values (one before each of "
                              f"{epochs_key} {epochs} and the first), got {len(rates)}")
        if any(not isinstance(r, (int, float)) or not 0.0 <= r <= 1.0 for r in rates):
            raise ConfigError(f"dcc.{rates_key} values must be in [0, 1], got {rates}")
    if not isinstance(dcc.sdm_weight, (int, float)) or dcc.sdm_weight < 0:
        raise ConfigError(f"dcc.sdm_weight must be >= 0, got {dcc.sdm_weight}")
    if dcc.temperature is not None and not 0 < dcc.temperature <= 1:
        raise ConfigError(f"dcc.temperature must be in (0, 1] or null (learned), got {dcc.temperature}")


def stage_at(dcc: DccCfg, epoch: int) -> Stage:
    """The curriculum stage of ``epoch`` (from 0); a disabled DCC is stage 0 with nothing hard."""
    if not dcc.enabled:
        return Stage(0, 0, 0.0, 0.0, 0.0)
    image = sum(e <= epoch for e in dcc.image_curriculum_epochs)
    text = sum(e <= epoch for e in dcc.text_curriculum_epochs)
    return Stage(image, text, float(dcc.image_hard_ratios[image]), float(dcc.text_mask_rates[text]),
                 float(dcc.text_swap_rates[text]))


def hard_batches(keys: np.ndarray, groups: np.ndarray, batch_size: int, share: float,
                 rng: np.random.Generator, steps: int | None = None) -> list[np.ndarray]:
    """One epoch of batches of pair indices; ``share`` of each is a cluster of one dominant attribute.

    Args:
        keys: (M,) int dominant-attribute id of each pair, -1 where it has none.
        groups: (M,) int person (or scene) of each pair; a cluster takes each person once.
        batch_size: pairs per batch (full batches only).
        share: round(share * batch_size) slots of a batch are the cluster (0: plain shuffled batches).
        rng: the trainer's generator (resume replays the same batches).
        steps: at most this many batches (None: one pass over the pairs).

    The cluster's attribute is drawn in proportion to the unused pairs that have
    it; the rest of a batch, and any cluster slot that attribute cannot fill,
    comes from the shuffled remaining pairs. Every pair is used at most once.
    """
    order = rng.permutation(len(keys))
    count = len(keys) // batch_size if steps is None else min(steps, len(keys) // batch_size)
    n_hard = int(round(share * batch_size))
    if n_hard < 2:
        return [order[i * batch_size:(i + 1) * batch_size] for i in range(count)]
    pools = {int(k): [int(i) for i in order if keys[i] == k] for k in np.unique(keys[keys >= 0])}
    used = np.zeros(len(keys), dtype=bool)
    rest = iter(order)
    batches = []
    for _ in range(count):
        cluster = _cluster(pools, groups, used, n_hard, rng)
        filler = [int(i) for i in _take_unused(rest, used, batch_size - len(cluster))]
        batches.append(np.array(cluster + filler, dtype=np.int64))
    return batches


def _cluster(pools: dict[int, list[int]], groups: np.ndarray, used: np.ndarray, size: int,
             rng: np.random.Generator) -> list[int]:
    """Up to ``size`` unused pairs of distinct people sharing one attribute (drawn by pool size)."""
    for key in [k for k, pool in pools.items() if not pool]:
        del pools[key]
    if not pools:
        return []
    names = list(pools)
    sizes = np.array([len(pools[k]) for k in names], dtype=np.float64)
    pool = pools[names[int(rng.choice(len(names), p=sizes / sizes.sum()))]]
    chosen, seen, keep = [], set(), []
    for i in pool:
        if used[i]:
            continue
        if len(chosen) < size and int(groups[i]) not in seen:
            chosen.append(i)
            seen.add(int(groups[i]))
            used[i] = True
        else:
            keep.append(i)
    pool[:] = keep
    return chosen


def _take_unused(order, used: np.ndarray, count: int) -> list[int]:
    out = []
    while len(out) < count:
        i = next(order)
        if not used[i]:
            used[i] = True
            out.append(i)
    return out


def key_ids(keys: Sequence[str | None]) -> np.ndarray:
    """Attribute strings → int ids (sorted order), None → -1."""
    names = sorted({k for k in keys if k is not None})
    index = {k: i for i, k in enumerate(names)}
    return np.array([index[k] if k is not None else -1 for k in keys], dtype=np.int64)


__all__ = ["Stage", "check_curriculum", "stage_at", "hard_batches", "key_ids"]
