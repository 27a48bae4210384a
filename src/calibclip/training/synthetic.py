"""The tiny model's training data: generate (or reuse) the synthetic sets, load them as pairs.

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

from calibclip.errors import DatasetLayoutError
from calibclip.training.config import DataConfig
from calibclip.training.data import PairSet, build_pairs

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
        raise DatasetLayoutError(f"{folder} exists but was not completed by calibclip train",
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


def ensure_pedes(data_dir: Path, cfg: DataConfig) -> Path:
    """The training person set (CUHK-PEDES layout) → its dataset root."""
    from calibclip.datasets.pedes import DATASET_DIRS
    from calibclip.datasets.synthetic_pedes import generate_pedes

    size = f"ids{cfg.pedes_ids}" if cfg.pedes_ids else "default"
    folder = _ensure(data_dir / f"pedes-seed{cfg.pedes_seed}-{size}",
                     lambda out: generate_pedes(out, seed=cfg.pedes_seed, ids=cfg.pedes_ids))
    return folder / DATASET_DIRS["cuhkpedes"]


def ensure_tigr(data_dir: Path, cfg: DataConfig) -> Path:
    """The training scene set (TIGR layout, every language in ``cfg.langs``) → its root."""
    from calibclip.datasets.synthetic_tigr import generate_tigr

    folder = data_dir / f"tigr-seed{cfg.tigr_seed}-{cfg.tigr_scale}-{'-'.join(cfg.langs)}"
    return _ensure(folder, lambda out: generate_tigr(out, seed=cfg.tigr_seed, scale=cfg.tigr_scale,
                                                     langs=cfg.langs))


def pedes_pairs(root: Path, split: str, size: tuple[int, int], max_images: int | None = None) -> PairSet:
    """Every caption of a person split paired with its image; the group is the person id."""
    from calibclip.datasets.pedes import load_pedes

    data = load_pedes(root, split)
    keep = len(data.image_paths) if max_images is None else min(max_images, len(data.image_paths))
    pairs = [(int(i), caption, int(pid)) for caption, pid, i
             in zip(data.captions, data.caption_pids, data.caption_image_index) if i < keep]
    return build_pairs(data.image_paths[:keep], pairs, size, desc=f"decoding pedes {split}")


def tigr_pairs(root: Path, langs: tuple[str, ...], size: tuple[int, int]) -> PairSet:
    """(image, caption) pairs of every language; the group is the query (text id).

    The pairs store may hold full TIGR lines; only the raw query and its
    clauses are captions (never the whole analysis line).
    """
    from calibclip.composite.clauses import parse_tigr_text
    from calibclip.datasets.tigr import iter_pairs, load_tigr

    sets = [load_tigr(root, lang) for lang in langs]
    try:
        index = {image_id: i for i, image_id in enumerate(sets[0].gallery_ids)}
        groups: dict[str, int] = {}
        pairs = []
        for lang in langs:
            for image_id, text_id, text in iter_pairs(root, lang):
                if image_id not in index:
                    continue
                group = groups.setdefault(f"{lang}:{text_id}", len(groups))
                pairs.extend((index[image_id], caption, group) for caption in _captions(parse_tigr_text(text)))
        sources = [sets[0].image_source(i) for i in range(len(sets[0].gallery_ids))]
        return build_pairs(sources, pairs, size, desc="decoding tigr")
    finally:
        for dataset in sets:
            dataset.close()


def _captions(clauses) -> list[str]:
    """The raw query, plus each AND clause when there are several (composite search scores clauses)."""
    extra = list(clauses.and_clauses) if len(clauses.and_clauses) > 1 else []
    return [clauses.raw, *extra]
