"""calibclip: calibrated (CalibCLIP) and composite (CsdCLIP) text-to-image retrieval.

Heavy submodules load on first use, so ``import calibclip`` is cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "CalibCLIP": "calibclip.calibration.model",
    "build_calibclip": "calibclip.calibration.model",
    "load_backbone": "calibclip.backbones",
    "list_backbones": "calibclip.backbones",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'calibclip' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
