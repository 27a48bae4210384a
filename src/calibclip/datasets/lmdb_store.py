"""LMDB stores in the Chinese-CLIP convention (``cn_clip/preprocess/build_lmdb_dataset.py``).

* images: key = image id (utf-8) → base64 of the encoded image bytes; key
  ``num_images`` → the count as a decimal string.
* pairs: key = ``str(index)`` → ``pickle.dumps((image_id, text_id, text))``; key
  ``num_samples`` → the count.

Chinese-CLIP's ids are ints; TIGR-100k's are UUID strings, so ids are read back
as ``str``. py-lmdb refuses to open one environment twice in a process, so read
handles are shared through a reference-counted module-level cache (one ``imgs``
handle serves both the en and the zh pairs).
"""
from __future__ import annotations

import base64
import io
import logging
import pickle
import shutil
import threading
from pathlib import Path
from typing import Iterable, Iterator

from calibclip.errors import CorruptData, DatasetLayoutError

log = logging.getLogger(__name__)

NUM_IMAGES = b"num_images"
NUM_SAMPLES = b"num_samples"
_MAP_SIZE = 1 << 40  # sparse on Linux/macOS; the file only grows with the data, as in Chinese-CLIP
_COMMIT_EVERY = 1000

_lock = threading.Lock()
_envs: dict[Path, list] = {}  # resolved path -> [environment, reference count]


def _check_size(env, path: Path) -> None:
    """A truncated data.mdb maps pages past the end of the file: reading them kills the process (SIGBUS)."""
    needed = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    data = path / "data.mdb"
    if data.stat().st_size < needed:
        raise CorruptData(f"LMDB {path} is truncated ({data.stat().st_size} of {needed} bytes)",
                          "re-copy or rebuild the dataset")


def acquire(path: str | Path):
    """Open (or share) a read-only environment; pair each call with ``release``."""
    import lmdb

    path = Path(path).resolve()
    if not (path / "data.mdb").is_file():
        raise DatasetLayoutError(f"no LMDB environment at {path} (data.mdb missing)",
                                 "point at a dataset root holding lmdb/imgs, or rebuild it")
    with _lock:
        if path in _envs:
            _envs[path][1] += 1
            return _envs[path][0]
        try:
            env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False,
                            max_readers=1024)
        except lmdb.Error as exc:
            raise CorruptData(f"cannot open LMDB {path}: {' '.join(str(exc).split())}",
                              "the database is corrupt; re-copy or rebuild the dataset") from exc
        try:
            _check_size(env, path)
        except CorruptData:
            env.close()
            raise
        _envs[path] = [env, 1]
        return env


def release(path: str | Path) -> None:
    """Drop one reference; the environment closes when nobody holds it."""
    path = Path(path).resolve()
    with _lock:
        entry = _envs.get(path)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            entry[0].close()
            del _envs[path]


def _get(env, path: Path, key: bytes) -> bytes | None:
    import lmdb

    try:
        with env.begin(buffers=False) as txn:
            return txn.get(key)
    except lmdb.Error as exc:
        raise CorruptData(f"cannot read LMDB {path}: {' '.join(str(exc).split())}",
                          "the database is corrupt; re-copy or rebuild the dataset") from exc


def read_count(path: str | Path, key: bytes) -> int | None:
    """The ``num_images``/``num_samples`` record, or None when the store has none."""
    path = Path(path).resolve()
    env = acquire(path)
    try:
        value = _get(env, path, key)
    finally:
        release(path)
    if value is None:
        return None
    try:
        return int(value.decode("utf-8"))
    except ValueError as exc:
        raise CorruptData(f"LMDB {path}: {key.decode()} is not a number: {value[:40]!r}") from exc


def read_keys(path: str | Path) -> list[str]:
    """Every image id in an images store, in key order (the count record excluded)."""
    import lmdb

    path = Path(path).resolve()
    env = acquire(path)
    try:
        with env.begin() as txn:
            return [key.decode("utf-8") for key in txn.cursor().iternext(keys=True, values=False)
                    if key != NUM_IMAGES]
    except (lmdb.Error, UnicodeDecodeError) as exc:
        raise CorruptData(f"cannot read LMDB {path}: {' '.join(str(exc).split())}",
                          "the database is corrupt; re-copy or rebuild the dataset") from exc
    finally:
        release(path)


def decode_image_value(value: bytes) -> bytes:
    """base64 (URL-safe as Chinese-CLIP writes it, or standard) → encoded image bytes."""
    return base64.urlsafe_b64decode(value)


def get_image_bytes(env, path: Path, image_id: str) -> bytes | None:
    """Encoded image bytes for ``image_id`` from a held images environment, or None if absent."""
    value = _get(env, path, image_id.encode("utf-8"))
    return None if value is None else decode_image_value(value)


class _TupleUnpickler(pickle.Unpickler):
    """Pairs are tuples of strings/ints: refuse any class, so a hostile file cannot run code."""

    def find_class(self, module: str, name: str):  # noqa: D102 - pickle hook
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")


def iter_pair_records(path: str | Path) -> Iterator[tuple[str, str, str]]:
    """Yield ``(image_id, text_id, text)`` for index 0..num_samples-1 of a pairs store."""
    path = Path(path).resolve()
    count = read_count(path, NUM_SAMPLES)
    if count is None:
        raise CorruptData(f"LMDB {path} has no num_samples record", "rebuild the pairs store")
    env = acquire(path)
    try:
        for index in range(count):
            value = _get(env, path, str(index).encode("utf-8"))
            if value is None:
                raise CorruptData(f"LMDB {path}: pair {index} of {count} is missing", "rebuild the pairs store")
            try:
                image_id, text_id, text = _TupleUnpickler(io.BytesIO(value)).load()
            except (pickle.UnpicklingError, ValueError, TypeError, EOFError) as exc:
                raise CorruptData(f"LMDB {path}: pair {index} is not an (image_id, text_id, text) tuple") from exc
            yield str(image_id), str(text_id), str(text)
    finally:
        release(path)


class LmdbWriter:
    """Write one fresh store (an existing one at ``path`` is replaced), committing in chunks."""

    def __init__(self, path: str | Path, count_key: bytes) -> None:
        import lmdb

        self.path = Path(path).resolve()
        if self.path in _envs:
            raise DatasetLayoutError(f"LMDB {self.path} is open for reading in this process",
                                     "close the dataset (TigrSet.close) before rewriting it")
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)
        self.count_key = count_key
        self.count = 0
        # no fsync per chunk commit: one sync at close is enough for a store written in one go
        self._env = lmdb.open(str(self.path), map_size=_MAP_SIZE, sync=False)
        self._txn = self._env.begin(write=True)

    def put(self, key: bytes, value: bytes) -> None:
        """Add one record (committed with the next chunk)."""
        self._txn.put(key, value)
        self.count += 1
        if self.count % _COMMIT_EVERY == 0:
            self._txn.commit()
            self._txn = self._env.begin(write=True)

    def close(self) -> int:
        """Write the count record, commit and close; returns the number of records."""
        self._txn.put(self.count_key, str(self.count).encode("utf-8"))
        self._txn.commit()
        self._env.sync(True)
        self._env.close()
        return self.count

    def abort(self) -> None:
        """Close and delete the half-written store, so no reader mistakes it for a complete one."""
        self._txn.abort()
        self._env.close()
        shutil.rmtree(self.path, ignore_errors=True)


def _write(path: str | Path, count_key: bytes, records: Iterable[tuple[bytes, bytes]]) -> int:
    writer = LmdbWriter(path, count_key)
    try:
        for key, value in records:
            writer.put(key, value)
    except BaseException:
        writer.abort()
        raise
    return writer.close()


def write_images(path: str | Path, items: Iterable[tuple[str, bytes]]) -> int:
    """Store ``(image_id, encoded image bytes)`` items; returns ``num_images``."""
    return _write(path, NUM_IMAGES, ((i.encode("utf-8"), base64.urlsafe_b64encode(d)) for i, d in items))


def write_pairs(path: str | Path, pairs: Iterable[tuple[str, str, str]]) -> int:
    """Store ``(image_id, text_id, text)`` pairs under keys "0", "1", ...; returns ``num_samples``."""
    return _write(path, NUM_SAMPLES, ((str(n).encode("utf-8"), pickle.dumps(tuple(p))) for n, p in enumerate(pairs)))
