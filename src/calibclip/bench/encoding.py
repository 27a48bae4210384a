"""Encoder-side measurements: image encoding plain vs CVE, text encoding plain vs DCC, index build vs model only."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from calibclip.backbones.base import Backbone
from calibclip.bench import inputs
from calibclip.bench.timing import interleaved, rate
from calibclip.calibration.cve import calibrate_images
from calibclip.calibration.dcc import discriminate_texts
from calibclip.config import CalibrationConfig
from calibclip.datasets.images import open_image
from calibclip.index.encode import inference_context


def image_encoding(backbone: Backbone, cfg: CalibrationConfig, batch: int, repeats: int,
                   sync: Callable[[], None]) -> dict[str, Any]:
    """img/s of ``encode_image`` vs ``calibrate_images`` (which returns plain AND calibrated) on one pixel batch."""
    height, width = backbone.image_size
    pixels = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(0)).to(backbone.device)
    with inference_context(backbone.device):
        times = interleaved({"plain": lambda: backbone.encode_image(pixels),
                             "calibrated": lambda: calibrate_images(backbone, pixels, cfg)}, repeats, sync)
    plain, calibrated = rate(batch, times["plain"]), rate(batch, times["calibrated"])
    return {"batch": batch, "plain_img_s": plain, "calibrated_img_s": calibrated, "ratio": calibrated / plain}


def text_encoding(backbone: Backbone, cfg: CalibrationConfig, texts: Sequence[str], repeats: int,
                  sync: Callable[[], None]) -> dict[str, Any]:
    """queries/s of ``embed_texts`` vs ``discriminate_texts`` (plain AND discriminative embeddings)."""
    with inference_context(backbone.device):
        times = interleaved({"plain": lambda: backbone.embed_texts(texts),
                             "dcc": lambda: discriminate_texts(backbone, texts, cfg)}, repeats, sync)
    plain, dcc = rate(len(texts), times["plain"]), rate(len(texts), times["dcc"])
    return {"texts": len(texts), "plain_q_s": plain, "dcc_q_s": dcc, "ratio": dcc / plain}


def index_build(backbone: Backbone, cfg: CalibrationConfig, folder: Path, photos: int, batch: int, workers: int,
                repeats: int, sync: Callable[[], None], seed: int = 0) -> dict[str, Any]:
    """img/s of ``calibclip index`` on folders of JPEG photos vs the model alone on decoded pixels.

    The index run reads, hashes and decodes the files in DataLoader workers, encodes
    them (plain + CVE, heat, suppressed patches) and commits each batch to SQLite.
    Every run indexes new photos into one database (its first run, which also encodes
    the reference captions once, is the warm-up), so ``db_bytes_per_image`` is the
    database's size per image as it grows.
    """
    from calibclip.index.indexer import Indexer

    sets = [inputs.write_photos(folder / f"set{r}", photos, seed=seed + r) for r in range(repeats + 1)]
    decoded = torch.stack([backbone.preprocess(open_image(p)) for p in sets[0]])
    db = folder / "bench.db"
    indexer = Indexer(db, backbone, cfg=cfg, batch_size=batch, workers=workers)
    todo = iter(sets)

    def model_only() -> None:
        with inference_context(backbone.device):
            for start in range(0, len(decoded), batch):
                calibrate_images(backbone, decoded[start:start + batch].to(backbone.device), cfg)

    def from_jpeg() -> None:
        summary = indexer.run(next(todo)[0].parent)
        if summary.encoded != photos:
            raise RuntimeError(f"the bench index encoded {summary.encoded} of {photos} photos: {summary.skipped}")

    times = interleaved({"model_only": model_only, "from_jpeg": from_jpeg}, repeats, sync)
    model, build = rate(photos, times["model_only"]), rate(photos, times["from_jpeg"])
    stored = sum(p.stat().st_size for p in folder.glob("bench.db*"))
    return {"images": photos, "decode_workers": workers, "model_only_img_s": model, "build_img_s": build,
            "ratio": build / model, "db_bytes_per_image": stored / (photos * (repeats + 1))}


__all__ = ["image_encoding", "text_encoding", "index_build"]
