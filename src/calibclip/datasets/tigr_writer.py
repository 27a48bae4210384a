"""Write the TIGR-100k layout (see ``tigr``): jsonl queries, ``imgs/`` files and Chinese-CLIP LMDBs.

Used by the synthetic generator and the converters. Never loses data: it writes
into a new or empty folder, or replaces a folder that it wrote itself (recognised
by its marker file); anything else is refused.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Container, Iterable

from calibclip.datasets import lmdb_store
from calibclip.datasets.tigr import LANGS, pairs_path
from calibclip.errors import DatasetLayoutError

_OWN_DIRS = ("lmdb", "imgs")


class TigrWriter:
    """Writes one dataset root; ``marker`` names the JSON file that marks the folder as ours."""

    def __init__(self, root: str | Path, marker: str) -> None:
        self.root = Path(root)
        self.marker = self.root / marker
        self._prepare()
        self.write_marker({"status": "incomplete"})

    def _prepare(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise DatasetLayoutError(f"output {self.root} is a file", "choose a folder for --out")
        if self.root.is_dir() and any(self.root.iterdir()):
            if not self.marker.is_file():
                raise DatasetLayoutError(f"output folder {self.root} is not empty",
                                         "choose a new --out folder (existing data is never overwritten)")
            for name in _OWN_DIRS:
                shutil.rmtree(self.root / name, ignore_errors=True)
            for lang in LANGS:
                for old in self.root.glob(f"{lang}_*.jsonl"):
                    old.unlink()
        (self.root / "imgs").mkdir(parents=True, exist_ok=True)

    def write_images(self, store: str, items: Iterable[tuple[str, bytes]],
                     folder_ids: Container[str] | None = None) -> int:
        """Fill ``lmdb/<store>`` with JPEG bytes; ids in ``folder_ids`` (all if None) also go to ``imgs/``."""
        folder = self.root / "imgs"

        def tee() -> Iterable[tuple[str, bytes]]:
            for image_id, data in items:
                if folder_ids is None or image_id in folder_ids:
                    (folder / f"{image_id}.jpg").write_bytes(data)
                yield image_id, data

        return lmdb_store.write_images(self.root / "lmdb" / store, tee())

    def write_queries(self, lang: str, name: str, records: Iterable[dict[str, Any]]) -> int:
        """Write ``<lang>_<name>.jsonl`` (one TIGR record per line); returns the number of lines."""
        count = 0
        with open(self.root / f"{lang}_{name}.jsonl", "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
        return count

    def write_pairs(self, lang: str, pairs: Iterable[tuple[str, str, str]]) -> int:
        """Write ``lmdb/pairs`` (en) or ``lmdb/pairs_<lang>``; returns ``num_samples``."""
        return lmdb_store.write_pairs(pairs_path(self.root, lang), pairs)

    def write_marker(self, meta: dict[str, Any]) -> None:
        """Write the marker file (last, so an interrupted run stays marked incomplete)."""
        self.marker.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
