"""Image decoding with one clear error per unreadable file.

Every decoder in the project goes through ``open_image``, so a photo looks the
same to indexing, evaluation and explanations: EXIF orientation applied (a
phone picture taken upright is upright), CMYK / palette / 16-bit / alpha images
converted to 8-bit RGB the way a viewer shows them (alpha over white, 16-bit
scaled, not clipped), and Pillow's decompression-bomb guard turned into a
``BadImage`` instead of a crash.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from calibclip.errors import BadImage

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}

_BYTES_REPR = re.compile(r"<_io\.BytesIO object at 0x[0-9a-f]+>")
_WIDE_MODES = {"I;16": 1 / 256, "I;16B": 1 / 256, "I;16L": 1 / 256, "I;16N": 1 / 256, "I": 1 / 256}


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB as a viewer shows it: EXIF-upright, alpha over white, 16-bit scaled to 8."""
    image = ImageOps.exif_transpose(image)
    if image.mode in _WIDE_MODES:
        image = image.point(lambda v: v * _WIDE_MODES[image.mode]).convert("L")
    elif image.mode == "F":
        image = image.convert("L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def image_failure(exc: BaseException) -> str:
    """A short reason for a decoding failure, without the file's name (``BytesIO`` reprs dropped)."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, Image.DecompressionBombError):
        return "decompression bomb refused (Pillow's size guard)"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image (cannot identify image file)"
    return _BYTES_REPR.sub("", " ".join(str(exc).split())).strip() or type(exc).__name__


def open_image(source: str | Path | bytes, name: str | None = None) -> Image.Image:
    """Decode a path or raw bytes into an RGB PIL image, or raise ``BadImage`` (naming ``name`` if given)."""
    where = name or ("<bytes>" if isinstance(source, bytes) else str(source))
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
        with handle:
            image = Image.open(handle)
            image.load()
            return to_rgb(image)
    except FileNotFoundError as exc:
        raise BadImage(f"image not found: {where}") from exc
    except (Image.DecompressionBombError, UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadImage(f"cannot decode image {where}: {image_failure(exc)}",
                       "the file is corrupt, not an image or unreadable; it is skipped") from exc
