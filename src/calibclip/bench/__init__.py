"""``calibclip bench``: speed, memory and storage of the methods against plain CLIP, measured in one run.

Names load on first use (``import calibclip`` stays light).
"""
from __future__ import annotations

from calibclip.registry import lazy_attributes

_LAZY = {
    "BenchConfig": "calibclip.bench.run",
    "run_bench": "calibclip.bench.run",
    "targets": "calibclip.bench.report",
    "table_rows": "calibclip.bench.report",
}

__getattr__ = lazy_attributes(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = list(_LAZY)
