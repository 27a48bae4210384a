"""Generated synthetic sets, cached by their generator settings (training, evaluation and the demo share them).

Each generated set lives in its own folder named after its generator settings,
written to a temporary name first and renamed when complete, so an interrupted
generation is never mistaken for a finished one and a second run reuses it.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Callable

from calibclip.datasets.synthetic_pedes import PedesOptions
from calibclip.errors import DatasetLayoutError

log = logging.getLogger(__name__)

DONE_MARKER = ".complete"


def default_data_dir() -> Path:
    """``$CALIBCLIP_CACHE`` or ``~/.cache/calibclip``, then ``train-data``."""
    base = os.environ.get("CALIBCLIP_CACHE") or Path.home() / ".cache" / "calibclip"
    return Path(base) / "train-data"


def _ensure(folder: Path, generate: Callable[[Path], object]) -> Path:
    """Run ``generate(tmp)`` unless ``folder`` is complete, then move ``tmp`` into place."""
    if (folder / DONE_MARKER).is_file():
        log.info("reusing generated data in %s", folder)
        return folder
    if folder.exists() and any(folder.iterdir()):
        raise DatasetLayoutError(f"{folder} exists but was not completed by calibclip",
                                 "delete it, or pass another --data-dir")
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("generating %s", folder)
    generate(tmp)
    (tmp / DONE_MARKER).write_text("ok\n", encoding="utf-8")
    if folder.exists():
        folder.rmdir()
    tmp.rename(folder)
    return folder


def ensure_pedes(data_dir: Path, seed: int, ids: int | None = None, options: PedesOptions | None = None) -> Path:
    """A generated person set (CUHK-PEDES layout; ``options``: style, look-alikes, captions) → its dataset root."""
    from calibclip.datasets.pedes import DATASET_DIRS
    from calibclip.datasets.synthetic_pedes import generate_pedes

    options = (options or PedesOptions()).check()
    name = f"pedes-seed{seed}-{f'ids{ids}' if ids else 'default'}" + _options_suffix(options)
    folder = _ensure(data_dir / name, lambda out: generate_pedes(out, seed=seed, ids=ids, options=options))
    return folder / DATASET_DIRS["cuhkpedes"]


def _options_suffix(options: PedesOptions) -> str:
    """The folder-name part of the options that differ from the classic set ("" for it)."""
    parts = [options.style] if options.style != "classic" else []
    parts += [f"look{options.lookalike_group}"] * (options.lookalike_group > 1)
    parts += [options.lang] * (options.lang != "en")
    parts += [f"salient{options.salient_share:g}"] * (options.salient_share > 0)
    return "".join(f"-{p}" for p in parts)


def ensure_tigr(data_dir: Path, seed: int, scale: str = "default", langs: tuple[str, ...] = ("en", "zh"),
                style: str = "classic") -> Path:
    """A generated scene set (TIGR layout, every language in ``langs``, drawn in ``style``) → its root."""
    from calibclip.datasets.synthetic_tigr import generate_tigr

    folder = data_dir / (f"tigr-seed{seed}-{scale}-{'-'.join(langs)}" + (f"-{style}" if style != "classic" else ""))
    return _ensure(folder, lambda out: generate_tigr(out, seed=seed, scale=scale, langs=langs, style=style))


__all__ = ["DONE_MARKER", "default_data_dir", "ensure_pedes", "ensure_tigr"]
