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


@dataclass
class CalibrationConfig:
    """CalibCLIP training-free knobs (DESIGN "CalibCLIP").

    Defaults: the best of 879 settings on the val split of 3 fresh synthetic person sets with the
    bundled tiny model (``scripts/ablate_calibration.py``, README "Does it help here?"); the paper-derived
    values are 0.1 / 0.1 / 0.0 / 0.2 / 0.5 / original for dominant_ratio / decay / contrast_alpha /
    mask_ratio / lam / first_stage.
    """

    cve_enabled: bool = True            # calibrate image embeddings (CVE)
    dominant_ratio: float = 0.2         # share of patches treated as dominant
    neighbourhood: int = 3              # k×k window for "stands out from its neighbours"
    decay: float = 0.3                  # attention multiplier on dominant patches (1 and α 0 = off)
    contrast_alpha: float = 0.0         # >0: calibrated += α·(orig − dominant-only), renormalised
    dcc_enabled: bool = True            # calibrate text embeddings (DCC)
    mask_ratio: float = 0.3             # share of content words masked
    min_masked: int = 1                 # at least this many words masked
    rerank_k: int = 100                 # rerank only the top K of the first stage
    lam: float = 0.1                    # final = (1-λ)·s_orig + λ·s_disc
    first_stage: str = "calibrated"     # "original" | "calibrated" image embedding in stage 1


@dataclass
class CompositeConfig:
    """CsdCLIP composite-scoring knobs (DESIGN "CsdCLIP"; defaults chosen by measurement)."""

    w_query: float = 1.0                # weight of the optimized-query score
    w_and: float = 1.0                  # weight of the combined AND score
    w_not: float = 0.5                  # weight of the NOT penalty (measured)
    not_threshold: float = 1.0          # τ: z-scores of a NOT clause above τ are penalised (measured)
    and_mode: str = "mean"              # "mean" | "softmin" | "min" (mean measured best, composite.md)
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


__all__ = ["CalibrationConfig", "CompositeConfig", "cache_root", "from_dict", "to_dict", "read_yaml",
           "deep_merge", "apply_overrides"]
