"""A folder with every kind of bad file: valid images indexed, bad ones skipped, counted and named, exit 0."""
import io
import json
import os
import re
import shutil
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from calibclip.cli.main import main
from calibclip.datasets.images import open_image
from calibclip.index.store import Store


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width×height pixels (Pillow's bomb guard refuses it before decoding)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + \
        chunk(b"IEND", b"")


def _jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _bad_folder(root, write_images):
    """(folder, valid files, {bad path: expected reason fragment}, unreadable path or None)."""
    folder = root / "photos"
    valid = write_images(folder, 4, seed=5)
    pixels = np.random.default_rng(0).integers(0, 255, (32, 40, 3), dtype=np.uint8)
    picture = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6                                                     # rotated 90° by the camera
    extra = {"rotated.jpg": _jpeg(picture, exif=exif.tobytes()),
             "cmyk.jpg": _jpeg(picture.convert("CMYK")),
             "png_named.jpg": (lambda b: (picture.save(b, "PNG"), b.getvalue())[1])(io.BytesIO()),
             "фото 照片 😀.png": (lambda b: (picture.save(b, "PNG"), b.getvalue())[1])(io.BytesIO())}
    wide = Image.fromarray((np.arange(32 * 40).reshape(32, 40) * 50).astype(np.uint16))
    wide.save(folder / "sixteen_bit.png")
    palette = picture.convert("P", palette=Image.ADAPTIVE, colors=16)
    palette.save(folder / "palette.png", transparency=0)
    for name, data in extra.items():
        (folder / name).write_bytes(data)
    valid += [folder / n for n in extra] + [folder / "sixteen_bit.png", folder / "palette.png"]

    full = _jpeg(picture)
    bad = {"truncated.jpg": (full[: len(full) // 2], "truncated"), "empty.png": (b"", "empty file"),
           "notes.jpg": (b"these are notes, not a photo", "not an image"),
           "bomb.png": (_png_header_only(30000, 30000), "decompression bomb")}
    for name, (data, _) in bad.items():
        (folder / name).write_bytes(data)
    reasons = {str(folder / n): why for n, (_, why) in bad.items()}
    (folder / "readme.txt").write_text("ignored: not an image suffix")
    (folder / "sub").mkdir()
    os.symlink("..", folder / "sub" / "loop")                            # a folder loop
    os.symlink("self.jpg", folder / "self.jpg")                          # a file link to itself
    os.symlink("missing.jpg", folder / "gone.jpg")
    reasons.update({str(folder / "sub" / "loop"): "symlink loop", str(folder / "self.jpg"): "symlink loop",
                    str(folder / "gone.jpg"): "broken symlink"})
    with open(os.fsencode(folder) + b"/latin1-\xe9t\xe9.png", "wb") as handle:
        handle.write(extra["png_named.jpg"])
    reasons[str(folder / "latin1-\\xe9t\\xe9.png")] = "not valid UTF-8"
    locked = folder / "locked.jpg"
    locked.write_bytes(full)
    locked.chmod(0)
    reasons[str(locked)] = "permission denied"
    return folder, valid, reasons


def _as_unprivileged() -> list[str]:
    """A command prefix under which file permissions apply (root reads anything otherwise)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def test_bad_file_folder_is_indexed_without_failing(tmp_path, micro_spec, capsys, write_images):
    import subprocess
    import sys

    folder, valid, reasons = _bad_folder(tmp_path, write_images)
    db, errors = tmp_path / "photos.db", tmp_path / "errors.tsv"
    command = [*_as_unprivileged(), sys.executable, "-m", "calibclip.cli.main", "index", str(folder), "--db", str(db),
               "--backbone", micro_spec, "--workers", "2", "--batch-size", "4", "--errors", str(errors), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["total"] == summary["added"] == len(valid) == 10
    assert summary["ignored"] == 1
    assert sorted(summary["skipped"]) == sorted(reasons)
    for path, fragment in reasons.items():
        assert fragment in summary["skipped"][path], (path, summary["skipped"][path])
    listed = dict(line.split("\t") for line in errors.read_text(encoding="utf-8").splitlines())
    assert listed == summary["skipped"]
    with Store(db) as store:
        indexed = store.files_under(str(folder))
        assert set(indexed) == {str(p) for p in valid}
        assert (indexed[str(folder / "rotated.jpg")].width, indexed[str(folder / "rotated.jpg")].height) == (32, 40)

    # a second run retries nothing unchanged and still names every skipped file in its summary
    assert main(["index", str(folder), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^unchanged +10$", out, re.M) and re.search(r"^added +0$", out, re.M)
    for path in reasons:
        assert path in out


def test_open_image_converts_like_a_viewer(tmp_path):
    wide = Image.fromarray((np.full((8, 8), 40000)).astype(np.uint16))   # 16-bit: scaled, not clipped to 255
    buffer = io.BytesIO()
    wide.save(buffer, "PNG")
    assert open_image(buffer.getvalue()).getpixel((0, 0)) == (156, 156, 156)
    palette = Image.new("P", (4, 4))
    palette.putpalette([0, 0, 0] * 256)
    buffer = io.BytesIO()
    palette.save(buffer, "PNG", transparency=0)                         # transparent pixels show as white
    assert open_image(buffer.getvalue()).getpixel((0, 0)) == (255, 255, 255)
    cmyk = open_image(_jpeg(Image.new("CMYK", (8, 8), (0, 255, 255, 0))))
    assert cmyk.mode == "RGB" and cmyk.getpixel((4, 4))[0] > 200 > cmyk.getpixel((4, 4))[1]
    exif = Image.Exif()
    exif[0x0112] = 6
    assert open_image(_jpeg(Image.new("RGB", (40, 20)), exif=exif.tobytes())).size == (20, 40)
