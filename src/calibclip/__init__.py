"""calibclip: calibrated (CalibCLIP) and composite (CsdCLIP) text-to-image retrieval.

Heavy submodules load on first use, so ``import calibclip`` is cheap.
"""
from __future__ import annotations

from calibclip.registry import lazy_attributes

__version__ = "0.1.0"

_LAZY = {
    "CalibCLIP": "calibclip.calibration.model",
    "build_calibclip": "calibclip.calibration.model",
    "load_backbone": "calibclip.backbones",
    "list_backbones": "calibclip.backbones",
    "Searcher": "calibclip.search",
}

__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = ["__version__", *_LAZY]
