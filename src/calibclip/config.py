"""Typed configs for the methods, and a strict YAML/dict → dataclass loader.

Unknown keys fail loudly (a typo in a YAML knob must never be silently ignored).
Precedence, as in timm's train.py: YAML → CLI overrides → saved ``resolved.yaml``.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from calibclip.errors import ConfigError

T = TypeVar("T")


# The values of CalibCLIP's public code (kane2kang/CalibCLIP: top 10% of patches by CLS attention are
# dominant, residual/decay 0.1, DCC λ 0.5, retrieval top-k 100) and of DESIGN.md (mask 20% of content
# words, first stage original). Every other key is calibclip's own and its value was fixed before any
# measurement (docs/methods/calibclip.md). A backbone's preset overrides these; explicit config wins.
PUBLIC_CODE_DEFAULTS: dict[str, Any] = {
    "cve_enabled": True, "dominant_select": "register", "dominant_ratio": 0.1, "dominance": 2.0,
    "low_info_quantile": 0.5, "norm_outlier": 3.0, "decay": 0.1, "decay_mode": "constant", "contrast_alpha": 0.0,
    "dcc_enabled": True, "mask_select": "general", "mask_ratio": 0.2, "min_masked": 1, "min_df": 0.05,
    "word_pool": "max", "dcc_corpus": None, "rerank_k": 100, "lam": 0.5, "first_stage": "original",
    "random_seed": 0,
}


@dataclass
class CalibrationConfig:
    """CalibCLIP training-free knobs (DESIGN "CalibCLIP"); ``None`` means "not set here".

    An unset knob takes the backbone's own preset (``tiny`` checkpoints carry the values measured
    on them) and then ``PUBLIC_CODE_DEFAULTS``; ``calibclip.calibration.presets.resolve_calibration``
    does the lookup, so explicit configuration always wins. Knob meanings are in
    docs/methods/calibclip.md; the selection rules marked "ours" are our reading of the paper.
    """

    cve_enabled: bool | None = None         # calibrate image embeddings (CVE)
    dominant_select: str | None = None      # "register" (ours) | "flat" (ours, pixels) | "attention" (public
    #                                         code) | "random" (control)
    dominant_ratio: float | None = None     # at most this share of patches is suppressed
    dominance: float | None = None          # register/flat: attention ≥ this × the uniform patch share
    low_info_quantile: float | None = None  # flat: pixel std at or below this quantile = low information
    norm_outlier: float | None = None       # register: token norm ≥ this × the median = a register token
    decay: float | None = None              # attention multiplier on dominant patches (1 = CVE off)
    decay_mode: str | None = None           # "constant" | "adaptive" (down to the median patch attention)
    contrast_alpha: float | None = None     # >0: calibrated += α·(orig − dominant-only), renormalised
    dcc_enabled: bool | None = None         # calibrate text embeddings (DCC)
    mask_select: str | None = None          # "general" (ours: attention × corpus frequency) | "attention" |
    #                                         "frequency" | "random" (the last two are cheap controls)
    mask_ratio: float | None = None         # share of content words masked
    min_masked: int | None = None           # at least this many eligible words masked
    min_df: float | None = None             # general: only words in ≥ this share of corpus captions
    word_pool: str | None = None            # "max" | "mean" of a word's sub-token attentions
    dcc_corpus: str | None = None           # captions file (one per line) for word frequencies
    rerank_k: int | None = None             # rerank only the top K of the first stage
    lam: float | None = None                # final = (1-λ)·s_first + λ·s_disc
    first_stage: str | None = None          # "original" | "calibrated" image embedding in stage 1
    random_seed: int | None = None          # seed of the "random" selection controls


@dataclass
class CompositeConfig:
    """CsdCLIP composite-scoring knobs (DESIGN "CsdCLIP"; defaults chosen by measurement)."""

    w_query: float = 1.0                # weight of the optimized-query score
    w_and: float = 1.0                  # weight of the combined AND score
    w_not: float = 0.5                  # weight of the NOT penalty (measured)
    not_threshold: float = 1.0          # τ: z-scores of a NOT clause above τ are penalised (measured)
    and_mode: str = "mean"              # "mean" | "softmin" | "min": chosen on tiny-web's dev seed over the
    #                                     conjunctions (docs/methods/csdclip.md#measured-on-the-web-style-test-bed)
    softmin_temperature: float = 0.5    # temperature of the soft minimum over AND clauses
    fuse_query: bool = True             # include the optimized query score
    use_not: bool = True                # apply the NOT penalty


def cache_root() -> Path:
    """Where caches live: ``$CALIBCLIP_CACHE`` or ``~/.cache/calibclip``."""
    return Path(os.environ.get("CALIBCLIP_CACHE") or Path.home() / ".cache" / "calibclip")


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "config") -> T:
    """Build dataclass ``cls`` from a mapping; nested dataclasses recurse; unknown keys fail."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}",
                          f"valid keys: {', '.join(sorted(names))}")
    kwargs = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value, f"{where}.{key}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"invalid {where}: {exc}") from exc


def to_dict(obj: Any) -> dict[str, Any]:
    """Dataclass → plain dict (for JSON/YAML output)."""
    return dataclasses.asdict(obj)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, following ``_base_: other.yaml`` (relative) recursively."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML in {path}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping at top level")
    base = data.pop("_base_", None)
    if base:
        return deep_merge(read_yaml(path.parent / base), data)
    return data


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``override`` wins."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_overrides(obj: T, overrides: dict[str, Any]) -> T:
    """Return a copy of dataclass ``obj`` with non-None ``overrides`` applied (CLI flags)."""
    changes = {k: v for k, v in overrides.items() if v is not None}
    return from_dict(type(obj), {**dataclasses.asdict(obj), **changes})


__all__ = ["CalibrationConfig", "CompositeConfig", "PUBLIC_CODE_DEFAULTS", "cache_root", "from_dict", "to_dict",
           "read_yaml", "deep_merge", "apply_overrides"]
