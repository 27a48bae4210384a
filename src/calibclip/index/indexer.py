"""Incremental, resumable folder indexing: walk, diff, decode in parallel, encode in batches, commit.

Per run: ``scan.plan`` says which files are new or changed (size or mtime);
DataLoader workers read those, hash their bytes (SHA-256) and decode them
(EXIF orientation applied, ``datasets.images.open_image``). A file whose
content the index already holds (touched, moved, duplicated) reuses the stored
vectors; the rest go through the model once per batch (plain + CVE-calibrated
embedding, CVE heat and suppressed patches) and each batch is committed as one
transaction. Deleted files are removed last. Killed at any point, the next run
finds the committed files unchanged and carries on.

Example:
    >>> from calibclip.backbones import load_backbone
    >>> summary = index_folder("photos/", "photos.db", load_backbone("tiny"))   # doctest: +SKIP
    >>> summary.added, summary.skipped                                          # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from calibclip.backbones import load_backbone
from calibclip.backbones.base import Backbone
from calibclip.calibration.cve import calibrate_images
from calibclip.calibration.presets import resolve_calibration
from calibclip.config import CalibrationConfig
from calibclip.datasets.images import image_failure, open_image
from calibclip.errors import BadImage, IndexMismatch
from calibclip.index.encode import inference_context
from calibclip.index.producer import Producer, check_same_cve, check_same_model, describe
from calibclip.index.relevance import REFERENCE_CAPTIONS, reference_statistics
from calibclip.index.scan import FileStat, plan, scan_folder
from calibclip.index.store import ImageVectors, NewImage, Store, writer_lock
from calibclip.index.vectors import IvfpqCache, check_kind, check_recall

log = logging.getLogger(__name__)

DEFAULT_BACKBONE = "tiny"


@dataclass
class IndexSummary:
    """What one ``index_folder`` run did (the CLI prints it)."""

    root: str
    backbone: str = ""
    kind: str = "exact"                                   # exact | ivfpq
    added: int = 0                                        # new paths
    updated: int = 0                                      # known paths with new content
    removed: int = 0                                      # paths gone from the folder
    unchanged: int = 0                                    # same size+mtime, or same content
    encoded: int = 0                                      # images that went through the model
    reused: int = 0                                       # new/changed files whose content was indexed already
    skipped: dict[str, str] = field(default_factory=dict)  # path → reason (never fatal)
    ignored: int = 0                                      # files without an image suffix
    total: int = 0                                        # images the index holds afterwards
    seconds: float = 0.0
    images_per_second: float = 0.0                        # encoded / time spent reading + encoding
    check: dict | None = None                             # recall report (run(check=True))


@dataclass
class _Decoded:
    index: int
    sha256: str
    pixels: torch.Tensor | None
    size: tuple[int, int]
    error: str | None


class _ReadDataset(Dataset):
    """Read, hash and decode files in DataLoader workers; failures come back as reasons."""

    def __init__(self, files: list[FileStat], preprocess) -> None:
        self.files, self.preprocess = files, preprocess

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> _Decoded:
        path = self.files[i].path
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            reason = "permission denied" if isinstance(exc, PermissionError) else f"cannot read: {exc.strerror}"
            return _Decoded(i, "", None, (0, 0), reason)
        sha = hashlib.sha256(data).hexdigest()
        if not data:
            return _Decoded(i, sha, None, (0, 0), "empty file (0 bytes)")
        try:
            image = open_image(data, name=path)
            return _Decoded(i, sha, self.preprocess(image), image.size, None)
        except BadImage as exc:
            return _Decoded(i, sha, None, (0, 0), image_failure(exc.__cause__) if exc.__cause__ else exc.message)
        except Exception as exc:  # a decoder bug on one hostile file must not stop the run
            return _Decoded(i, sha, None, (0, 0), f"decoder failed: {type(exc).__name__}: {exc}")


def _encode_unique(backbone: Backbone, decoded: list[_Decoded], cfg: CalibrationConfig,
                   reference: torch.Tensor) -> dict[str, ImageVectors]:
    """Encode each distinct content once → sha256 → vectors."""
    if not decoded:
        return {}
    vectors = _encode(backbone, torch.stack([d.pixels for d in decoded]), cfg, reference)
    return {d.sha256: v for d, v in zip(decoded, vectors)}


@contextlib.contextmanager
def _thread_budget(workers: int) -> Iterator[None]:
    """Leave the decoding workers their cores: the model gets the rest (at least one thread), then as before.

    Decoding processes plus a full set of torch threads oversubscribe the CPU, and torch's threads
    then spin-wait for each other (``tiny`` on a busy 2-core machine: 6.6 img/s with 2 threads,
    35 img/s with 1; docs/guides/search-your-photos.md, "Speed").
    """
    before = torch.get_num_threads()
    if workers:
        torch.set_num_threads(max(1, min(before, (os.cpu_count() or 1) - workers)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _collate(items: list[_Decoded]) -> list[_Decoded]:
    return items


def _encode(backbone: Backbone, pixels: torch.Tensor, cfg: CalibrationConfig,
            reference: torch.Tensor) -> list[ImageVectors]:
    """Everything stored per image, from one pass (``reference``: the reference-caption embeddings)."""
    pixels = pixels.to(backbone.device)
    if cfg.cve_enabled:
        both = calibrate_images(backbone, pixels, cfg)
        original, p = both.original, both.num_prefix
        calibrated = both.calibrated.float().cpu().numpy()
        heat = both.cls_attention[:, p:].float().cpu().numpy()
        dominant = both.dominant[:, p:].cpu().numpy().astype(np.uint8)
    else:
        original = backbone.encode_image(pixels)
        calibrated = heat = dominant = [None] * len(pixels)
    stored = original.float().cpu().numpy().astype(np.float16)   # statistics of the vectors as stored
    mean, std = reference_statistics(reference, torch.from_numpy(stored.astype(np.float32)))
    return [ImageVectors(o, c, h, d, float(m), float(s))
            for o, c, h, d, m, s in zip(stored, calibrated, heat, dominant, mean, std)]


def open_for_writing(store: Store, backbone: Backbone, cfg: CalibrationConfig | None) -> Producer:
    """Check (or record, for a new database) the producer; ``cfg`` None keeps the stored calibration."""
    stored = store.producer()
    if stored is None:
        current = describe(backbone, cfg or CalibrationConfig())
        with store.transaction():
            store.set_meta("producer", current.to_dict())
        return current
    stored = Producer.from_dict(stored)
    current = describe(backbone, cfg or stored.calibration_config())
    check_same_model(stored, current, str(store.path))
    if cfg is not None:
        check_same_cve(stored, resolve_calibration(cfg, backbone), str(store.path))
    return stored


class Indexer:
    """Index folders into one database with one backbone (see module docstring).

    Args:
        db: the database file (created on first use).
        backbone: a loaded backbone, a spec string, or None: the database's own (``tiny`` for a new one).
        device: where a backbone given as a spec runs.
        cfg: calibration knobs for a new database; None keeps an existing database's.
        kind: ``exact`` or ``ivfpq``; None keeps the database's (``exact`` for a new one).
    """

    def __init__(self, db: str | Path, backbone: Backbone | str | None = None, device: str = "auto",
                 cfg: CalibrationConfig | None = None, batch_size: int = 32, workers: int = 2,
                 kind: str | None = None) -> None:
        self.db, self.backbone, self.device = Path(db), backbone, device
        self.batch_size, self.workers = max(1, int(batch_size)), max(0, int(workers))
        self.cfg, self.kind = cfg, None if kind is None else check_kind(kind)
        self._reference: torch.Tensor | None = None

    def _load_backbone(self, store: Store) -> Backbone:
        if isinstance(self.backbone, Backbone):
            return self.backbone
        stored = store.producer()
        spec = self.backbone or (stored["backbone"] if stored else DEFAULT_BACKBONE)
        if stored and spec != stored["backbone"]:  # before loading a model only to refuse it
            raise IndexMismatch(f"index {self.db} was made by backbone {stored['backbone']!r}, not {spec!r}",
                                f"use --backbone {stored['backbone']}, or a new --db for this backbone")
        return load_backbone(spec, self.device)

    def run(self, folder: str | Path, check: bool = False) -> IndexSummary:
        """Bring the index up to date with ``folder``; never fatal for a bad file.

        ``check``: also measure the search recall of an ``ivfpq`` index (``vectors.check_recall``).
        """
        start = time.perf_counter()
        scan = scan_folder(folder)
        with writer_lock(self.db), Store(self.db) as store:
            backbone = self._load_backbone(store)
            producer = open_for_writing(store, backbone, self.cfg)
            if self.kind is not None:
                with store.transaction():
                    store.set_meta("index_kind", self.kind)
            known = store.files_under(scan.root)
            todo = plan(scan, known, store.skipped_under(scan.root))
            summary = IndexSummary(root=scan.root, backbone=producer.backbone, unchanged=todo.unchanged,
                                   ignored=todo.ignored, skipped={**todo.problems, **todo.known_bad},
                                   kind=store.get_meta("index_kind", "exact"))
            busy = self._read_and_encode(store, backbone, todo.read, known, producer.calibration_config(), summary)
            store.remove(todo.removed)
            summary.removed = sum(1 for p in todo.removed if p in known)
            summary.total = store.count()
            self._finish_vectors(store, summary, check)
        summary.seconds = time.perf_counter() - start
        summary.images_per_second = summary.encoded / busy if busy > 0 else 0.0
        log.info("indexed %s: %s", scan.root, dataclasses.asdict(summary) | {"skipped": len(summary.skipped)})
        return summary

    def _finish_vectors(self, store: Store, summary: IndexSummary, check: bool) -> None:
        """Bring the IVF-PQ cache up to date (ivfpq), and measure its recall when asked."""
        if summary.kind != "ivfpq" or summary.total == 0:
            if check:
                summary.check = {"kind": summary.kind, "recall": 1.0, "note": "exact search: recall 1 by construction"}
            return
        index = IvfpqCache(self.db).load(store)
        if check:
            summary.check = {"kind": "ivfpq", **check_recall(store, index)}

    @torch.no_grad()
    def _read_and_encode(self, store: Store, backbone: Backbone, files: list[FileStat], known: dict,
                         cfg: CalibrationConfig, summary: IndexSummary) -> float:
        """Process ``files`` batch by batch (one transaction each) → seconds spent."""
        if not files:
            return 0.0
        start = time.perf_counter()
        # worker processes cost more than they save on a couple of batches
        workers = self.workers if len(files) > 2 * self.batch_size else 0
        loader = DataLoader(_ReadDataset(files, backbone.preprocess), batch_size=self.batch_size,
                            num_workers=workers, collate_fn=_collate)
        with _thread_budget(workers), tqdm(total=len(files), desc="index", unit="img", disable=None,
                                           leave=False) as bar:
            for batch in loader:
                self._commit(store, backbone, [(files[d.index], d) for d in batch], known, cfg, summary)
                bar.update(len(batch))
        return time.perf_counter() - start

    def _commit(self, store: Store, backbone: Backbone, batch: list[tuple[FileStat, _Decoded]], known: dict,
                cfg: CalibrationConfig, summary: IndexSummary) -> None:
        rows, touched, skipped, to_encode = [], [], [], {}
        for f, d in batch:
            if d.error is not None:
                skipped.append((f.path, f.size, f.mtime_ns, d.error))
                summary.skipped[f.path] = d.error
                log.info("skipped %s: %s", f.path, d.error)
            elif f.path in known and known[f.path].sha256 == d.sha256:
                touched.append((f.path, f.size, f.mtime_ns))
                summary.unchanged += 1
            else:
                vectors = store.vectors_of_content(d.sha256)
                if vectors is None:
                    to_encode.setdefault(d.sha256, d)
                else:
                    summary.reused += 1
                rows.append((f, d, vectors))
        encoded = self._vectors_of(backbone, list(to_encode.values()), cfg)
        summary.encoded += len(encoded)
        images = [NewImage(f.path, f.size, f.mtime_ns, d.sha256, d.size[0], d.size[1],
                           vectors if vectors is not None else encoded[d.sha256]) for f, d, vectors in rows]
        store.write_batch(images, touched, skipped)
        summary.updated += sum(1 for f, _, _ in rows if f.path in known)
        summary.added += sum(1 for f, _, _ in rows if f.path not in known)

    def _vectors_of(self, backbone: Backbone, decoded: list[_Decoded],
                    cfg: CalibrationConfig) -> dict[str, ImageVectors]:
        """sha256 → vectors of each new content (the hook a distributed run fills from its shards)."""
        with inference_context(backbone.device):  # inference mode; fp16 autocast on CUDA
            if decoded and self._reference is None:
                self._reference = backbone.embed_texts(list(REFERENCE_CAPTIONS))
            return _encode_unique(backbone, decoded, cfg, self._reference)


def index_folder(folder: str | Path, db: str | Path, backbone: Backbone | str | None = None, **options) -> IndexSummary:
    """Index ``folder`` into the database ``db`` (created if needed); ``options`` as for ``Indexer``."""
    return Indexer(db, backbone, **options).run(folder)


__all__ = ["Indexer", "IndexSummary", "index_folder", "open_for_writing"]
