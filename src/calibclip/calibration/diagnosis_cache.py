"""Where a backbone's diagnosis is kept: in its checkpoint (``tiny``) or cached by ``calibclip diagnose``.

The cache key is the spec plus, when the weights are a local file, its size
and modification time, so re-training a checkpoint in place invalidates it.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """``$CALIBCLIP_CACHE/diagnose`` or ``~/.cache/calibclip/diagnose``."""
    base = os.environ.get("CALIBCLIP_CACHE") or Path.home() / ".cache" / "calibclip"
    return Path(base) / "diagnose"


def backbone_key(backbone: Any) -> str:
    """A stable key for a loaded backbone: spec, plus size and mtime of a local weights file."""
    spec = backbone.spec
    parts = [spec.raw]
    if spec.weights and Path(spec.weights).is_file():
        stat = Path(spec.weights).stat()
        parts += [str(stat.st_size), str(int(stat.st_mtime))]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def cached_diagnosis_path(backbone: Any) -> Path:
    return cache_dir() / f"{backbone_key(backbone)}.json"


def save_diagnosis(backbone: Any, verdicts: dict[str, Any]) -> Path:
    """Cache the verdicts of a diagnosis run (written atomically)."""
    path = cached_diagnosis_path(backbone)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"spec": backbone.spec.raw, **verdicts}, indent=1), encoding="utf-8")
    tmp.replace(path)
    return path


def diagnosis_for(backbone: Any) -> dict[str, Any]:
    """The verdicts carried by the backbone, else the cached ones, else ``{}``."""
    carried = getattr(backbone, "diagnosis", None)
    if carried:
        return dict(carried)
    if getattr(backbone, "spec", None) is None:
        return {}
    path = cached_diagnosis_path(backbone)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


__all__ = ["cache_dir", "backbone_key", "save_diagnosis", "diagnosis_for", "cached_diagnosis_path"]
