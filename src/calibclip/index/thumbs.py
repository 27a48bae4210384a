"""Lazy thumbnail cache: a small JPEG per indexed image, made on first request.

Thumbnails live in ``<db>.thumbs/`` named by id and content hash, so a changed
photo gets a new thumbnail and a stale one is never served. They are written
to a temporary file and renamed, so a crash never leaves half a JPEG.
"""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from calibclip.datasets.images import open_image
from calibclip.index.store import FileRecord

THUMB_SIZE = 256


class ThumbnailCache:
    """Thumbnails of one database's images (see module docstring)."""

    def __init__(self, db: str | Path, size: int = THUMB_SIZE) -> None:
        self.folder = Path(str(db) + ".thumbs")
        self.size = size

    def path_for(self, record: FileRecord) -> Path:
        return self.folder / f"{record.id}-{record.sha256[:16]}-{self.size}.jpg"

    def get(self, record: FileRecord) -> bytes:
        """JPEG bytes of the thumbnail of ``record`` (made now if missing; ``BadImage`` if unreadable)."""
        path = self.path_for(record)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        image = open_image(record.path)
        image.thumbnail((self.size, self.size))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        data = buffer.getvalue()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except OSError:  # a read-only cache folder still serves, it just regenerates next time
            pass
        return data


__all__ = ["ThumbnailCache", "THUMB_SIZE"]
