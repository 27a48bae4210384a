"""Convert public caption datasets into the TIGR-100k layout (queries = captions, HR = the captioned image).

Inputs (CsdCLIP evaluates on MSCOCO, Flickr30k, wikiDO and Urban1k in this layout):

* ``coco`` / ``flickr30k``: Karpathy-split json (``dataset_coco.json``, ``dataset_flickr30k.json``:
  ``{"images": [{"filepath", "filename", "split", "sentences": [{"raw"}]}]}``); images under
  ``<images>/<filepath>/<filename>`` or ``<images>/<filename>``.
* ``urban1k``: ``image/<stem>.jpg`` + ``caption/<stem>.txt`` (Long-CLIP's Urban1k release).
* ``wikido`` / ``folder``: a table of ``image`` (path relative to the table) and ``caption``:
  jsonl (``{"image": "a/b.jpg", "caption": "..."}``, caption may be a list) or CSV with that header.

Unreadable or missing images are skipped and counted, never fatal.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from tqdm.auto import tqdm

from calibclip.datasets.images import open_image
from calibclip.datasets.tigr_writer import TigrWriter
from calibclip.errors import BadImage, CorruptData, DatasetLayoutError

log = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("6f1c2a52-8f0e-4d3b-9a51-3c1f6f3b2d10")  # stable text ids across runs


@dataclass
class Captioned:
    """One source image and its captions."""

    image_id: str
    path: Path
    captions: list[str]


def _karpathy_json(src: Path, kind: str) -> Path:
    if src.is_file():
        return src
    candidate = src / f"dataset_{kind}.json"
    if not candidate.is_file():
        raise DatasetLayoutError(f"no {candidate.name} in {src}", "pass the Karpathy-split json with --src")
    return candidate


def read_karpathy(src: Path, kind: str, split: str, images: Path | None) -> Iterator[Captioned]:
    """Images of one Karpathy split (``split="all"`` for every split)."""
    path = _karpathy_json(src, kind)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["images"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CorruptData(f"{path} is not a Karpathy-split json ({type(exc).__name__}: {exc})",
                          'expected {"images": [{"filename", "split", "sentences": [{"raw"}]}]}') from exc
    root = images or path.parent
    chosen = [e for e in entries if split == "all" or e.get("split") == split]
    if not chosen:
        found = sorted({str(e.get("split")) for e in entries})
        raise DatasetLayoutError(f"no images with split {split!r} in {path}", f"splits present: {', '.join(found)}")
    for entry in chosen:
        name = entry["filename"]
        candidates = [root / entry.get("filepath", "") / name, root / name]
        found_path = next((c for c in candidates if c.is_file()), candidates[0])
        yield Captioned(Path(name).stem, found_path, [s.get("raw", "") for s in entry.get("sentences", [])])


def read_urban1k(src: Path, kind: str, split: str, images: Path | None) -> Iterator[Captioned]:
    """``image/<stem>.*`` paired with ``caption/<stem>.txt``; unpaired files are logged."""
    image_dir, caption_dir = images or src / "image", src / "caption"
    for folder in (image_dir, caption_dir):
        if not folder.is_dir():
            raise DatasetLayoutError(f"Urban1k folder missing: {folder}", "expected image/ and caption/ under --src")
    captions = {p.stem: p for p in caption_dir.glob("*.txt")}
    image_paths = sorted(p for p in image_dir.iterdir() if p.is_file())
    orphans = len(set(captions) - {p.stem for p in image_paths})
    if orphans:
        log.warning("%d caption file(s) in %s have no image", orphans, caption_dir)
    for path in image_paths:
        text = captions[path.stem].read_text(encoding="utf-8", errors="replace") if path.stem in captions else ""
        yield Captioned(path.stem, path, [text] if text.strip() else [])


def _table_rows(path: Path) -> Iterator[tuple[int, str, Any]]:
    """(line number, image, caption) from a jsonl or CSV table."""
    with open(path, encoding="utf-8", newline="") as handle:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(handle)
            if not {"image", "caption"} <= set(reader.fieldnames or ()):
                raise DatasetLayoutError(f"{path} needs the header image,caption", f"found: {reader.fieldnames}")
            for number, row in enumerate(reader, 2):
                yield number, row["image"], row["caption"]
            return
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                yield number, row["image"], row["caption"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise CorruptData(f"{path}:{number}: bad caption record ({exc})",
                                  'each line must be {"image": "relative/path.jpg", "caption": "..."}') from exc


def read_table(src: Path, kind: str, split: str, images: Path | None) -> Iterator[Captioned]:
    """A jsonl/CSV caption table; several rows for one image merge into one image with several captions."""
    if not src.is_file():
        raise DatasetLayoutError(f"caption table not found: {src}", "pass a .jsonl or .csv file with --src")
    root = images or src.parent
    grouped: dict[str, Captioned] = {}
    for _, image, caption in _table_rows(src):
        rel = str(image).strip().replace("\\", "/")
        item = grouped.setdefault(rel, Captioned(rel.rsplit(".", 1)[0].replace("/", "__"), root / rel, []))
        item.captions.extend(caption if isinstance(caption, list) else [caption])
    yield from grouped.values()


READERS: dict[str, Callable[..., Iterator[Captioned]]] = {
    "coco": read_karpathy, "flickr30k": read_karpathy, "urban1k": read_urban1k,
    "wikido": read_table, "folder": read_table,
}


def _clean(caption: Any) -> str:
    """One line, no TIGR field separators (``|`` would split the caption into fields)."""
    return " ".join(str(caption).replace("|", "/").replace("｜", "/").split())


def _jpeg_bytes(path: Path) -> bytes:
    """The file's bytes if it is a decodable JPEG, else a JPEG re-encoding (``BadImage`` if unreadable)."""
    image = open_image(path)
    data = path.read_bytes()
    if data[:2] == b"\xff\xd8":
        return data
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


class _Collector:
    """Turns captioned images into JPEG bytes, TIGR records and pairs, counting what is skipped."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.records: list[dict[str, Any]] = []
        self.pairs: list[tuple[str, str, str]] = []
        self.skipped: Counter[str] = Counter()
        self.seen: set[str] = set()

    def images(self, items: Iterator[Captioned]) -> Iterator[tuple[str, bytes]]:
        for item in tqdm(items, desc=f"convert {self.kind}", unit="img", leave=False):
            captions = [c for c in map(_clean, item.captions) if c]
            reason = "duplicate id" if item.image_id in self.seen else "no caption" if not captions else None
            if reason is None:
                try:
                    data = _jpeg_bytes(item.path)
                except BadImage as exc:
                    reason = "missing" if "not found" in exc.message else "unreadable"
                    log.info("skipped %s", exc.one_line())
            if reason is not None:
                self.skipped[reason] += 1
                continue
            self.seen.add(item.image_id)
            for k, caption in enumerate(captions):
                text_id = str(uuid.uuid5(_NAMESPACE, f"{self.kind}/{item.image_id}/{k}"))
                self.records.append({"text_id": text_id, "text": caption, "image_ids": [item.image_id],
                                     "image_xiangsi_ids": []})
                self.pairs.append((item.image_id, text_id, caption))
            yield item.image_id, data


def convert_dataset(kind: str, src: str | Path, out: str | Path, split: str = "test", lang: str = "en",
                    images: str | Path | None = None) -> dict[str, Any]:
    """Convert ``src`` (see the module docstring) into ``out`` → summary with counts.

    Example:
        >>> convert_dataset("flickr30k", "data/dataset_flickr30k.json", "data/flickr30k", split="test")
        {'kind': 'flickr30k', 'images': 1000, 'queries': 5000, ...}
    """
    if kind not in READERS:
        raise DatasetLayoutError(f"unknown dataset kind {kind!r}", f"choose one of: {', '.join(READERS)}")
    if lang not in ("en", "zh"):
        raise DatasetLayoutError(f"unsupported language {lang!r}", "use en or zh")
    src = Path(src)
    if not src.exists():
        raise DatasetLayoutError(f"source not found: {src}", "check --src")
    items = READERS[kind](src, kind, split, Path(images) if images else None)
    first = next(items, None)  # surface layout errors before touching the output folder
    if first is None:
        raise DatasetLayoutError(f"no images listed in {src}", "check --src and --split")
    writer = TigrWriter(out, marker="convert_meta.json")
    collector = _Collector(kind)
    count = writer.write_images("imgs", collector.images(itertools.chain([first], items)))
    if not count:
        raise DatasetLayoutError(f"no usable image in {src} ({dict(collector.skipped) or 'empty'})",
                                 "check --src/--images and --split")
    writer.write_queries(lang, kind, collector.records)
    writer.write_pairs(lang, collector.pairs)
    summary = {"kind": kind, "out": str(writer.root), "lang": lang, "split": split, "images": count,
               "queries": len(collector.records), "skipped_images": sum(collector.skipped.values()),
               "skipped": dict(collector.skipped)}
    writer.write_marker({"source": str(src), **summary})
    return summary

