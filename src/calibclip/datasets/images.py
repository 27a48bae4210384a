"""Image decoding with one clear error per unreadable file."""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from calibclip.errors import BadImage

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def open_image(source: str | Path | bytes) -> Image.Image:
    """Decode a path or raw bytes into an RGB PIL image, or raise ``BadImage``."""
    where = "<bytes>" if isinstance(source, bytes) else str(source)
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
        with handle:
            image = Image.open(handle)
            image.load()
            return image.convert("RGB")
    except FileNotFoundError as exc:
        raise BadImage(f"image not found: {where}") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadImage(f"cannot decode image {where}: {' '.join(str(exc).split())}",
                       "the file is corrupt or not an image; it is skipped") from exc
