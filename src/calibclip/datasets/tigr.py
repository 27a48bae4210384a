"""TIGR-100k layout (CsdCLIP README): jsonl queries with graded relevance + Chinese-CLIP LMDBs.

::

    <root>/en_*.jsonl, zh_*.jsonl   {"text_id", "text" (TIGR line), "image_ids" (HR), "image_xiangsi_ids" (MR)}
    <root>/imgs/<image_id>.jpg      HR and MR images
    <root>/lmdb/imgs                the gallery: every image, HR, MR and IR (see ``lmdb_store``)
    <root>/lmdb/pairs, pairs_zh     (image_id, text_id, text) pairs, e.g. for training

Without ``lmdb/imgs`` the gallery is the ``imgs/`` folder (plain folders).
"""
from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image

from calibclip.composite.clauses import parse_tigr_text
from calibclip.datasets import lmdb_store
from calibclip.datasets.images import IMAGE_SUFFIXES, open_image
from calibclip.errors import BadImage, CorruptData, DatasetLayoutError
from calibclip.types import Clauses

log = logging.getLogger(__name__)

LANGS = ("en", "zh")
HR_GAIN, MR_GAIN = 1.0, 0.5


@dataclass
class TigrQuery:
    """One complex query: its TIGR line, parsed clauses, and HR / MR (``image_xiangsi_ids``) image ids."""

    text_id: str
    text: str
    clauses: Clauses
    hr: list[str]
    mr: list[str]


@dataclass
class TigrSet:
    """Queries in one language over the shared gallery; images are decoded lazily from LMDB or ``imgs/``.

    Example:
        >>> ds = load_tigr("data/tigr100k", lang="zh")
        >>> vectors, report = encode_images(backbone, [ds.image_source(i) for i in range(len(ds.gallery_ids))])
        >>> ds.close()
    """

    root: Path
    lang: str
    queries: list[TigrQuery]
    gallery_ids: list[str]
    missing: int = 0                     # HR/MR ids named by queries but absent from the gallery
    _lmdb: Path | None = field(default=None, repr=False)
    _files: dict[str, Path] = field(default_factory=dict, repr=False)

    def load_image(self, image_id: str) -> Image.Image:
        """Decode one gallery image (raises ``BadImage`` if absent or undecodable)."""
        if self._lmdb is not None:
            data = _lmdb_image(self._lmdb, image_id)
            if data is None:
                raise BadImage(f"image {image_id!r} is not in {self._lmdb}")
            return open_image(data)
        if image_id not in self._files:
            raise BadImage(f"image {image_id!r} is not in {self.root / 'imgs'}")
        return open_image(self._files[image_id])

    def image_source(self, i: int) -> Callable[[], Image.Image]:
        """A zero-argument loader for gallery image ``i`` (what ``encode_images`` accepts)."""
        return functools.partial(self.load_image, self.gallery_ids[i])

    def gains(self) -> list[dict[int, float]]:
        """Per query: gallery index → gain (HR 1.0, MR 0.5); absent ids are left out."""
        position = {image_id: i for i, image_id in enumerate(self.gallery_ids)}
        out = []
        for query in self.queries:
            gains = {position[i]: MR_GAIN for i in query.mr if i in position}
            gains.update({position[i]: HR_GAIN for i in query.hr if i in position})
            out.append(gains)
        return out

    def close(self) -> None:
        """Release the shared LMDB handle (closed once no other set holds it)."""
        if self._lmdb is not None:
            lmdb_store.release(self._lmdb)
            self._lmdb = None


def _lmdb_image(store: Path, image_id: str) -> bytes | None:
    env = lmdb_store.acquire(store)
    try:
        return lmdb_store.get_image_bytes(env, store, image_id)
    finally:
        lmdb_store.release(store)


def find_jsonl(root: str | Path, lang: str = "en") -> tuple[Path, Path, str]:
    """Resolve ``root`` (a dataset folder or a jsonl file) → (dataset root, jsonl file, language)."""
    path = Path(root)
    if path.is_file():
        prefix = path.name.split("_", 1)[0]
        return path.parent, path, prefix if prefix in LANGS else lang
    if not path.is_dir():
        raise DatasetLayoutError(f"dataset not found: {path}", "pass a TIGR root folder or one of its jsonl files")
    found = sorted(path.glob(f"{lang}_*.jsonl"))
    if not found:
        raise DatasetLayoutError(f"no {lang}_*.jsonl in {path}",
                                 "pass the jsonl file itself, or build one with `calibclip synth tigr` "
                                 "/ `calibclip convert`")
    if len(found) > 1:
        raise DatasetLayoutError(f"several {lang}_*.jsonl in {path}: {', '.join(p.name for p in found)}",
                                 "pass the jsonl file you mean instead of the folder")
    return path, found[0], lang


def read_queries(path: Path) -> list[TigrQuery]:
    """Parse a TIGR jsonl file; a malformed line is a ``CorruptData`` naming file and line."""
    queries = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                text = str(record["text"])
                queries.append(TigrQuery(text_id=str(record["text_id"]), text=text,
                                         clauses=parse_tigr_text(text),
                                         hr=[str(i) for i in record.get("image_ids", [])],
                                         mr=[str(i) for i in record.get("image_xiangsi_ids", [])]))
            except (json.JSONDecodeError, KeyError, TypeError, CorruptData) as exc:
                detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc).split("\n")[0]
                raise CorruptData(f"{path}:{number}: bad TIGR record ({detail})",
                                  'each line must be {"text_id", "text", "image_ids", "image_xiangsi_ids"}') from exc
            if not queries[-1].clauses.raw.strip():  # found here, not after the gallery is encoded
                raise CorruptData(f"{path}:{number}: text_id {queries[-1].text_id}: empty query (nothing before "
                                  "the first '|' of its text line)", "give the record its query text, or remove it")
    if not queries:
        raise DatasetLayoutError(f"{path} holds no queries", "check that the right file was passed")
    return queries


def _folder_images(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def _limit_gallery(gallery: list[str], queries: list[TigrQuery], limit: int | None) -> list[str]:
    """Keep every relevant image, then fill with distractors in store order up to ``limit``."""
    if limit is None or limit >= len(gallery):
        return gallery
    relevant = {i for q in queries for i in (*q.hr, *q.mr)}
    room = max(0, limit - sum(1 for i in gallery if i in relevant))
    kept = []
    for image_id in gallery:
        if image_id in relevant:
            kept.append(image_id)
        elif room > 0:
            kept.append(image_id)
            room -= 1
    return kept


def load_tigr(root: str | Path, lang: str = "en", gallery_limit: int | None = None) -> TigrSet:
    """Load TIGR queries in ``lang`` and the gallery ids (``lmdb/imgs``, else the ``imgs/`` folder).

    ``root`` may be the dataset folder or a jsonl file (whose ``en_``/``zh_`` prefix sets the language).
    ``gallery_limit`` keeps all HR/MR images plus distractors up to that many images (quick runs).
    """
    root, jsonl, lang = find_jsonl(root, lang)
    queries = read_queries(jsonl)
    store = root / "lmdb" / "imgs"
    lmdb_path, files = None, {}
    if store.is_dir():
        gallery = lmdb_store.read_keys(store)
        lmdb_path = store.resolve()
        lmdb_store.acquire(lmdb_path)
    elif (root / "imgs").is_dir():
        files = _folder_images(root / "imgs")
        gallery = list(files)
    else:
        raise DatasetLayoutError(f"no gallery in {root}: neither lmdb/imgs nor imgs/ exists",
                                 "copy the dataset's lmdb/ folder next to the jsonl")
    gallery = _limit_gallery(gallery, queries, gallery_limit)
    present = set(gallery)
    missing = sum(1 for q in queries for i in {*q.hr, *q.mr} if i not in present)
    if missing:
        log.warning("%d HR/MR image id(s) named in %s are not in the gallery; they are ignored", missing, jsonl)
    return TigrSet(root=root, lang=lang, queries=queries, gallery_ids=gallery, missing=missing,
                   _lmdb=lmdb_path, _files=files)


def pairs_path(root: str | Path, lang: str = "en") -> Path:
    """``lmdb/pairs`` for English, ``lmdb/pairs_<lang>`` otherwise."""
    return Path(root) / "lmdb" / ("pairs" if lang == "en" else f"pairs_{lang}")


SPLITS = {"all": (), "train": ("train_imgs",), "gallery": ("imgs",)}


def iter_pairs(root: str | Path, lang: str = "en", split: str = "all") -> Iterator[tuple[str, str, str]]:
    """Yield ``(image_id, text_id, text)`` from ``lmdb/pairs`` (en) or ``lmdb/pairs_zh`` (zh).

    ``split="train"`` keeps pairs whose image is in ``lmdb/train_imgs`` (the synthetic
    generator's training scenes), ``"gallery"`` those whose image is in ``lmdb/imgs``.
    """
    if split not in SPLITS:
        raise DatasetLayoutError(f"unknown pairs split {split!r}", f"choose one of: {', '.join(SPLITS)}")
    path = pairs_path(root, lang)
    if not path.is_dir():
        raise DatasetLayoutError(f"no pairs store at {path}", "build it with `calibclip synth tigr` or "
                                 "`calibclip convert`, or pass the dataset root")
    keep: set[str] | None = None
    for store in SPLITS[split]:
        store_path = Path(root) / "lmdb" / store
        if not store_path.is_dir():
            raise DatasetLayoutError(f"no {store_path} for split {split!r}", "use split='all'")
        keep = set(lmdb_store.read_keys(store_path))
    for pair in lmdb_store.iter_pair_records(path):
        if keep is None or pair[0] in keep:
            yield pair


class PairImages:
    """Decode the images ``iter_pairs`` names: training scenes (``lmdb/train_imgs``), then the gallery.

    Example:
        >>> images = PairImages("data/synth_tigr")
        >>> batch = [(images.load(image_id), text) for image_id, _, text in iter_pairs("data/synth_tigr")]
        >>> images.close()
    """

    def __init__(self, root: str | Path) -> None:
        lmdb_dir = Path(root) / "lmdb"
        self.stores = [(lmdb_dir / name).resolve() for name in ("train_imgs", "imgs") if (lmdb_dir / name).is_dir()]
        if not self.stores:
            raise DatasetLayoutError(f"no image store in {lmdb_dir}", "expected lmdb/imgs and/or lmdb/train_imgs")
        for store in self.stores:
            lmdb_store.acquire(store)

    def load(self, image_id: str) -> Image.Image:
        """Decode one image (``BadImage`` if no store holds it or it cannot be decoded)."""
        for store in self.stores:
            data = _lmdb_image(store, image_id)
            if data is not None:
                return open_image(data)
        raise BadImage(f"image {image_id!r} is in none of {', '.join(map(str, self.stores))}")

    def source(self, image_id: str) -> Callable[[], Image.Image]:
        """A zero-argument loader for ``image_id`` (what ``encode_images`` and pair builders accept)."""
        return functools.partial(self.load, image_id)

    def close(self) -> None:
        """Release the shared LMDB handles."""
        for store in self.stores:
            lmdb_store.release(store)
        self.stores = []
