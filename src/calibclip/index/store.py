"""The index database: one SQLite file (WAL) holding every image's vectors and metadata.

SQLite is the source of truth; FAISS indexes are caches rebuilt from it. Each
indexing batch is one transaction, so a process killed at any moment (even by
SIGKILL) leaves either the whole batch or none of it; ``path`` is UNIQUE, so a
resumed run can never duplicate a row. Ids are never reused (AUTOINCREMENT):
a URL with an id never points at a different photo later.

The schema carries a version (``PRAGMA user_version``) and ordered migrations,
and the ``meta`` table records the producer (``index.producer``): a database
says which model, weights, preprocessing and calibration made its vectors.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from calibclip.errors import CorruptData, IndexBusy, IndexMismatch

VERSION = 1
BUSY_TIMEOUT_S = 30.0


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Statement by statement (``executescript`` would COMMIT the migration's transaction; no ';' in comments)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _create_v1(db: sqlite3.Connection) -> None:
    _run_script(db, """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE images (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT NOT NULL UNIQUE,          -- absolute, symlinks not resolved
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha256 TEXT NOT NULL,               -- content hash: reuse vectors of moved/duplicate files
            width INTEGER NOT NULL,             -- after EXIF orientation
            height INTEGER NOT NULL,
            original BLOB NOT NULL,             -- fp16 plain embedding
            calibrated BLOB,                    -- fp16 CVE embedding (NULL: CVE not applicable)
            heat BLOB,                          -- fp16 CLS attention over the patch grid
            dominant BLOB,                      -- uint8 0/1 per patch: what CVE suppressed
            ref_mean REAL,                      -- similarity to the reference captions: mean and std
            ref_std REAL,                       --   (index.relevance: the --min-score scale)
            indexed_at REAL NOT NULL);
        CREATE INDEX images_sha256 ON images (sha256);
        CREATE TABLE skipped (
            path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, reason TEXT NOT NULL);
    """)


# (version, step) in order: a database at version v gets every step with version > v.
MIGRATIONS: list[tuple[int, Callable[[sqlite3.Connection], None]]] = [(1, _create_v1)]

_RECORD = "path, size, mtime_ns, sha256, width, height, id"   # FileRecord's field order
VECTOR_COLUMNS = ("original", "calibrated", "heat", "dominant", "ref_mean", "ref_std")


@dataclass(frozen=True)
class FileInfo:
    """A file's identity as indexed: where, which version (size, mtime, content) and its picture size."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    width: int
    height: int


@dataclass(frozen=True)
class FileRecord(FileInfo):
    """An indexed file (no vectors) and its database id."""

    id: int = 0


@dataclass
class ImageVectors:
    """What is stored per image (fp16 vectors; ``dominant`` as 0/1 uint8; reference-caption statistics)."""

    original: np.ndarray
    calibrated: np.ndarray | None = None
    heat: np.ndarray | None = None
    dominant: np.ndarray | None = None
    ref_mean: float | None = None
    ref_std: float | None = None


@dataclass(frozen=True)
class NewImage(FileInfo):
    """One row to write: the file's identity plus its vectors."""

    vectors: ImageVectors | None = None


def _blob(array: np.ndarray | None, dtype: str) -> bytes | None:
    return None if array is None else np.ascontiguousarray(array, dtype=dtype).tobytes()


def _encode_vectors(v: ImageVectors) -> tuple:
    return (_blob(v.original, "<f2"), _blob(v.calibrated, "<f2"), _blob(v.heat, "<f2"), _blob(v.dominant, "u1"),
            v.ref_mean, v.ref_std)


def _decode_vectors(original: bytes, calibrated: bytes | None, heat: bytes | None, dominant: bytes | None,
                    ref_mean: float | None = None, ref_std: float | None = None) -> ImageVectors:
    def arr(blob: bytes | None, dtype: str) -> np.ndarray | None:
        return None if blob is None else np.frombuffer(blob, dtype=dtype)

    return ImageVectors(arr(original, "<f2"), arr(calibrated, "<f2"), arr(heat, "<f2"), arr(dominant, "u1"),
                        ref_mean, ref_std)


class Store:
    """One index database. Example:

        >>> with Store("photos.db") as store:   # doctest: +SKIP
        ...     print(store.count(), store.producer())
    """

    def __init__(self, path: str | Path, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise CorruptData(f"index database not found: {self.path}", "run 'calibclip index DIR --db PATH' first")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses nothing committed
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise CorruptData(f"cannot open index database {self.path}: {exc}",
                              "it is not a calibclip index (or is damaged); pass another --db") from exc

    # -- schema ----------------------------------------------------------------
    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > VERSION:
            raise IndexMismatch(f"index database {self.path} has schema version {version}, this calibclip reads "
                                f"up to {VERSION}", "upgrade calibclip, or index into a new --db")
        if version == 0 and self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise CorruptData(f"{self.path} is an SQLite database but not a calibclip index",
                              "pass another --db")
        for step_version, step in MIGRATIONS:
            if step_version > version:
                with self.transaction():
                    step(self.db)
                    self.db.execute(f"PRAGMA user_version = {int(step_version)}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error): all of the block or nothing."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- meta ------------------------------------------------------------------
    def get_meta(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value) -> None:
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                        "excluded.value", (key, json.dumps(value, sort_keys=True)))

    def producer(self) -> dict | None:
        """The producer record (``index.producer.Producer`` as a dict), or None for a new database."""
        return self.get_meta("producer")

    def generation(self) -> int:
        """Bumped by every committed change: caches built from the vectors compare it."""
        return int(self.get_meta("generation", 0))

    def _bump(self) -> None:
        self.set_meta("generation", self.generation() + 1)

    # -- files -----------------------------------------------------------------
    def files_under(self, root: str) -> dict[str, FileRecord]:
        """Indexed files whose path lies under the folder ``root`` (absolute), by path."""
        prefix = root.rstrip(os.sep) + os.sep
        rows = self.db.execute(f"SELECT {_RECORD} FROM images "
                               "WHERE substr(path, 1, ?) = ?", (len(prefix), prefix))
        return {r[0]: FileRecord(*r) for r in rows}

    def skipped_under(self, root: str) -> dict[str, tuple[int, int, str]]:
        """Files under ``root`` skipped before, by path → (size, mtime_ns, reason)."""
        prefix = root.rstrip(os.sep) + os.sep
        rows = self.db.execute("SELECT path, size, mtime_ns, reason FROM skipped WHERE substr(path, 1, ?) = ?",
                               (len(prefix), prefix))
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def vectors_of_content(self, sha256: str) -> ImageVectors | None:
        """Vectors of any indexed file with this content (a moved or duplicated file is never re-encoded)."""
        row = self.db.execute(f"SELECT {', '.join(VECTOR_COLUMNS)} FROM images WHERE sha256 = ? LIMIT 1",
                              (sha256,)).fetchone()
        return None if row is None else _decode_vectors(*row)

    def write_batch(self, images: Sequence[NewImage], touched: Sequence[tuple[str, int, int]] = (),
                    skipped: Sequence[tuple[str, int, int, str]] = ()) -> None:
        """One transaction: upsert ``images``, update (path, size, mtime_ns) of ``touched``, record ``skipped``."""
        now = time.time()
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO images (path, size, mtime_ns, sha256, width, height, original, calibrated, heat, "
                "dominant, ref_mean, ref_std, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET "
                "size = excluded.size, mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256, width = "
                "excluded.width, height = excluded.height, original = excluded.original, calibrated = "
                "excluded.calibrated, heat = excluded.heat, dominant = excluded.dominant, ref_mean = "
                "excluded.ref_mean, ref_std = excluded.ref_std, indexed_at = "
                "excluded.indexed_at",
                [(i.path, i.size, i.mtime_ns, i.sha256, i.width, i.height, *_encode_vectors(i.vectors), now)
                 for i in images])
            db.executemany("UPDATE images SET size = ?, mtime_ns = ? WHERE path = ?",
                           [(size, mtime, path) for path, size, mtime in touched])
            db.executemany("DELETE FROM skipped WHERE path = ?", [(i.path,) for i in images])
            db.executemany("INSERT INTO skipped (path, size, mtime_ns, reason) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
                           "reason = excluded.reason", list(skipped))
            db.executemany("DELETE FROM images WHERE path = ?", [(s[0],) for s in skipped])
            self._bump()

    def remove(self, paths: Iterable[str]) -> int:
        """Delete the rows (indexed or skipped) of ``paths`` in one transaction → rows deleted."""
        paths = [(p,) for p in paths]
        if not paths:
            return 0
        with self.transaction() as db:
            before = db.total_changes
            db.executemany("DELETE FROM images WHERE path = ?", paths)
            db.executemany("DELETE FROM skipped WHERE path = ?", paths)
            self._bump()
            return db.total_changes - before

    # -- reading -----------------------------------------------------------------
    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM images").fetchone()[0]

    def record(self, image_id: int) -> FileRecord | None:
        """The file behind ``image_id``, or None for an id the index does not hold."""
        row = self.db.execute(f"SELECT {_RECORD} FROM images WHERE id = ?",
                              (int(image_id),)).fetchone()
        return None if row is None else FileRecord(*row)

    def vectors(self, image_id: int) -> ImageVectors | None:
        row = self.db.execute(f"SELECT {', '.join(VECTOR_COLUMNS)} FROM images WHERE id = ?",
                              (int(image_id),)).fetchone()
        return None if row is None else _decode_vectors(*row)

    def matrices(self, ids: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(ids ascending, original (N, D) fp16, calibrated (N, D) fp16 or None) of all or the given ids."""
        ids_, original, calibrated, _ = self.rows(ids)
        return ids_, original, calibrated

    def rows(self, ids: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None,
                                                               np.ndarray | None]:
        """``matrices`` plus the (N, 2) reference statistics (mean, std), None if any image lacks them."""
        query = "SELECT id, original, calibrated, ref_mean, ref_std FROM images"
        if ids is None:
            rows = self.db.execute(query + " ORDER BY id").fetchall()
        else:
            wanted = sorted({int(i) for i in ids})
            rows = [r for chunk in range(0, len(wanted), 900) for r in self.db.execute(
                query + f" WHERE id IN ({','.join('?' * len(wanted[chunk:chunk + 900]))}) ORDER BY id",
                wanted[chunk:chunk + 900])]
            rows.sort(key=lambda r: r[0])
        id_array = np.array([r[0] for r in rows], dtype=np.int64)
        if not rows:
            return id_array, np.zeros((0, 0), np.float16), None, None
        original = np.stack([np.frombuffer(r[1], dtype="<f2") for r in rows])
        has_cal = all(r[2] is not None for r in rows)
        calibrated = np.stack([np.frombuffer(r[2], dtype="<f2") for r in rows]) if has_cal else None
        has_stats = all(r[3] is not None and r[4] is not None for r in rows)
        stats = np.array([(r[3], r[4]) for r in rows], dtype=np.float64) if has_stats else None
        return id_array, original, calibrated, stats

    def skipped(self) -> dict[str, str]:
        """Every file skipped by the last runs, path → reason."""
        return dict(self.db.execute("SELECT path, reason FROM skipped ORDER BY path"))

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ("ok" when the file is sound)."""
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]


@contextlib.contextmanager
def writer_lock(db_path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock beside the database while indexing: two indexers never interleave."""
    lock_path = Path(str(db_path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: SQLite's own locking still keeps the file consistent
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexBusy(f"another 'calibclip index' is writing {db_path}",
                                "wait for it to finish (its progress is kept), then run again") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


__all__ = ["Store", "FileInfo", "FileRecord", "ImageVectors", "NewImage", "VERSION", "MIGRATIONS", "writer_lock"]
