"""A lazy name → ``"module:Attr"`` registry.

Entries are import paths, not objects, so ``import calibclip`` stays cheap and
optional dependencies (open_clip, transformers, cn_clip, faiss) are imported
only when the entry is used.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from calibclip.errors import SpecError


class Registry:
    """Maps names to lazily imported attributes."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, str] = {}

    def register(self, name: str, target: str) -> None:
        """Register ``name`` → ``"package.module:Attr"`` (re-registering replaces)."""
        if ":" not in target:
            raise ValueError(f"registry target must be 'module:Attr', got {target!r}")
        self._entries[name] = target

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str) -> Any:
        """Import and return the attribute registered under ``name``."""
        if name not in self._entries:
            raise SpecError(
                f"unknown {self.kind} {name!r}",
                f"choose one of: {', '.join(self.names())}",
            )
        module_name, attr = self._entries[name].split(":", 1)
        return getattr(importlib.import_module(module_name), attr)


def lazy_attributes(package: str, table: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``table[name]`` (a module path) on first access.

    Packages use it so ``import calibclip.<pkg>`` stays free of torch/PIL until a name is used.
    """

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
