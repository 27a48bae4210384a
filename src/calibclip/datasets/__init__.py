"""Dataset loaders, writers and synthetic generators; names load on first use (no torchvision at import)."""
from __future__ import annotations

from calibclip.registry import lazy_attributes

_LAZY = {
    "build_transforms": "calibclip.datasets.transforms",
    "build_test_loader": "calibclip.datasets.loaders",
    "PedesTestLoader": "calibclip.datasets.loaders",
    "load_pedes": "calibclip.datasets.pedes",
    "iter_pedes_pairs": "calibclip.datasets.pedes",
    "PedesSplit": "calibclip.datasets.pedes",
    "generate_pedes": "calibclip.datasets.synthetic_pedes",
    "load_tigr": "calibclip.datasets.tigr",
    "iter_pairs": "calibclip.datasets.tigr",
    "TigrSet": "calibclip.datasets.tigr",
    "TigrQuery": "calibclip.datasets.tigr",
    "PairImages": "calibclip.datasets.tigr",
    "generate_tigr": "calibclip.datasets.synthetic_tigr",
}

__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = list(_LAZY)
