"""Person-retrieval datasets (CUHK-PEDES, ICFG-PEDES, RSTPReid, seed ``annotations/``): read and write.

The test protocol is IRRA's (github.com/anosorae/IRRA, ``datasets/cuhkpedes.py``,
``icfgpedes.py``, ``rstpreid.py``): every caption of a split is a query, every
image of the split is in the gallery, and a match is the same person id. Ids are
kept as written in the annotation file (CUHK-PEDES counts from 1).

Layouts (``<root>`` is the dataset folder, images live under ``<root>/imgs/``):

* ``cuhkpedes``: ``reid_raw.json``, a list of ``{split, captions, file_path,
  processed_tokens, id}``.
* ``icfgpedes``: ``ICFG-PEDES.json``, same keys.
* ``rstpreid``: ``data_captions.json``, a list of ``{id, img_path, captions, split}``.
* ``annotations``: the seed README's ``annotations/{train,val,test}.json``, each a
  list of ``{id, file_path, captions}``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from calibclip.errors import CorruptData, DatasetLayoutError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class _Layout:
    """Where one layout keeps its annotations and how a record names its image."""

    annotation: str      # file relative to the root; "{split}" is filled in for per-split files
    path_key: str        # record key holding the image path relative to imgs/
    keys: tuple[str, ...]  # keys written, in the real files' order


LAYOUTS: dict[str, _Layout] = {
    "cuhkpedes": _Layout("reid_raw.json", "file_path", ("split", "captions", "file_path", "processed_tokens", "id")),
    "icfgpedes": _Layout("ICFG-PEDES.json", "file_path", ("split", "captions", "file_path", "processed_tokens", "id")),
    "rstpreid": _Layout("data_captions.json", "img_path", ("id", "img_path", "captions", "split")),
    "annotations": _Layout("annotations/{split}.json", "file_path", ("id", "file_path", "captions")),
}
# Real CUHK-PEDES counts person ids from 1 (IRRA subtracts 1 for training); the others from 0.
ID_BASE = {"cuhkpedes": 1}
# Folder names of the real datasets (IRRA's ``dataset_dir``), used by the generator and in hints.
DATASET_DIRS = {"cuhkpedes": "CUHK-PEDES", "icfgpedes": "ICFG-PEDES", "rstpreid": "RSTPReid",
                "annotations": "PEDES"}


@dataclass(frozen=True)
class PedesRecord:
    """One annotated image, layout-independent (what the writers take)."""

    split: str
    pid: int                        # 0-based; written as pid + ID_BASE of the layout
    path: str                       # relative to ``<root>/imgs/``, forward slashes
    captions: tuple[str, ...]
    tokens: tuple[tuple[str, ...], ...] = ()


@dataclass
class PedesSplit:
    """One split in the IRRA test protocol: captions are queries, images the gallery.

    Attributes:
        root: the dataset folder.
        layout: one of ``LAYOUTS``.
        split: "train", "val" or "test".
        image_paths: absolute image paths, gallery order.
        image_pids: (num_images,) int64 person id of each image.
        captions: every caption of the split, query order.
        caption_pids: (num_captions,) int64 person id of each caption.
        caption_image_index: (num_captions,) index into ``image_paths`` of the captioned image.
    """

    root: Path
    layout: str
    split: str
    image_paths: list[Path]
    image_pids: np.ndarray
    captions: list[str]
    caption_pids: np.ndarray
    caption_image_index: np.ndarray = field(repr=False)

    @property
    def num_ids(self) -> int:
        """Number of distinct person ids in the gallery."""
        return int(np.unique(self.image_pids).size)


def detect_layout(root: str | Path) -> str:
    """Name the layout of ``root`` from the annotation file it holds, or raise ``DatasetLayoutError``."""
    root = _existing_dir(root)
    for name, layout in LAYOUTS.items():
        if any((root / layout.annotation.format(split=split)).is_file() for split in SPLITS):
            return name
    found = [d for d in DATASET_DIRS.values() if (root / d).is_dir()]
    hint = (f"did you mean {root / found[0]}?" if found
            else f"pass the dataset folder itself, or --layout one of {', '.join(LAYOUTS)}")
    raise DatasetLayoutError(
        f"no reid_raw.json, ICFG-PEDES.json, data_captions.json or annotations/{{train,val,test}}.json in {root}", hint)


def load_pedes(root: str | Path, split: str = "test", layout: str | None = None) -> PedesSplit:
    """Load one split of a person-retrieval dataset in any supported layout.

    Example:
        >>> data = load_pedes("data/CUHK-PEDES", split="test")
        >>> len(data.captions), len(data.image_paths)
    """
    root = _existing_dir(root)
    layout = _resolve_layout(root, layout)
    if split not in SPLITS:
        raise DatasetLayoutError(f"unknown split {split!r} for {root}", f"use one of {', '.join(SPLITS)}")
    image_paths, image_pids, captions, caption_pids, caption_image = [], [], [], [], []
    for rel, pid, texts in _read_split(root, layout, split):
        caption_image.extend([len(image_paths)] * len(texts))
        image_paths.append(root / "imgs" / rel)
        image_pids.append(pid)
        captions.extend(texts)
        caption_pids.extend([pid] * len(texts))
    if not image_paths:
        raise DatasetLayoutError(f"split {split!r} of {root} ({layout}) has no images",
                                 "check the 'split' field of the annotations, or choose another split")
    _check_images(image_paths)
    return PedesSplit(root, layout, split, image_paths, np.asarray(image_pids, dtype=np.int64), captions,
                      np.asarray(caption_pids, dtype=np.int64), np.asarray(caption_image, dtype=np.int64))


def iter_pedes_pairs(root: str | Path, split: str = "train",
                     layout: str | None = None) -> Iterator[tuple[Path, str, int]]:
    """Yield ``(image path, caption, person id)`` for every caption of ``split`` (training pairs)."""
    data = load_pedes(root, split, layout)
    for caption, pid, index in zip(data.captions, data.caption_pids, data.caption_image_index):
        yield data.image_paths[index], caption, int(pid)


def write_pedes(root: str | Path, records: Sequence[PedesRecord], layout: str) -> list[Path]:
    """Write the annotation file(s) of ``layout`` for ``records`` (images are the caller's job)."""
    root = Path(root)
    spec = LAYOUTS[_resolve_layout(root, layout)]
    rows: dict[str, list[dict]] = {}
    for rec in records:
        values = {"split": rec.split, "captions": list(rec.captions), spec.path_key: rec.path,
                  "processed_tokens": [list(t) for t in rec.tokens], "id": rec.pid + ID_BASE.get(layout, 0)}
        target = spec.annotation.format(split=rec.split)
        rows.setdefault(target, []).append({key: values[key] for key in spec.keys})
    written = []
    for target, items in sorted(rows.items()):
        path = root / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
        written.append(path)
    return written


def _existing_dir(root: str | Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"dataset folder not found: {root}", "check the --data_root path")
    return root


def _resolve_layout(root: Path, layout: str | None) -> str:
    """``layout`` checked against ``LAYOUTS``, or detected from ``root`` when None."""
    if layout is None:
        return detect_layout(root)
    if layout not in LAYOUTS:
        raise DatasetLayoutError(f"unknown dataset layout {layout!r} for {root}",
                                 f"use one of {', '.join(LAYOUTS)}")
    return layout


def _read_split(root: Path, layout: str, split: str) -> Iterator[tuple[str, int, list[str]]]:
    """Yield (relative image path, pid, captions) of ``split``, validating every record."""
    spec = LAYOUTS[layout]
    path = root / spec.annotation.format(split=split)
    per_split = "{split}" in spec.annotation
    for i, rec in enumerate(_read_json_list(path)):
        where = f"{path} record {i}"
        if not isinstance(rec, dict):
            raise CorruptData(f"{where} is not an object", "each record must be a JSON object")
        if not per_split and rec.get("split") not in SPLITS:
            raise CorruptData(f"{where} has split {rec.get('split')!r}", f"use one of {', '.join(SPLITS)}")
        if not per_split and rec["split"] != split:
            continue
        yield _record_fields(rec, spec.path_key, where)


def _record_fields(rec: dict, path_key: str, where: str) -> tuple[str, int, list[str]]:
    rel, pid, captions = rec.get(path_key), rec.get("id"), rec.get("captions")
    if not isinstance(rel, str) or not rel:
        raise CorruptData(f"{where} has no {path_key!r}", f"each record needs a {path_key!r} string")
    if isinstance(pid, bool) or not isinstance(pid, (int, str)) or not str(pid).lstrip("-").isdigit():
        raise CorruptData(f"{where} has a non-integer id {pid!r}", "person ids must be integers")
    if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
        raise CorruptData(f"{where} has no list of caption strings", "'captions' must be a list of strings")
    return rel, int(pid), captions


def _read_json_list(path: Path) -> list:
    if not path.is_file():
        raise DatasetLayoutError(f"annotation file not found: {path}",
                                 "check the dataset folder and its layout")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptData(f"malformed JSON in {path}: {exc}", "re-download or regenerate the file") from exc
    if not isinstance(data, list):
        raise CorruptData(f"{path} must hold a JSON list of records", "re-download or regenerate the file")
    return data


def _check_images(paths: Sequence[Path]) -> None:
    """Fail on missing image files before any model work (``os.path.isfile`` is a cheap stat)."""
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise DatasetLayoutError(f"{len(missing)} of {len(paths)} images missing, first: {missing[0]}",
                                 "images must live under <root>/imgs/ at the annotated paths")
