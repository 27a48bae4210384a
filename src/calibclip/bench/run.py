"""``calibclip bench``: every measurement of the performance issue in one run, as ratios with absolute figures.

Example:
    >>> from calibclip.bench import BenchConfig, run_bench
    >>> report = run_bench(BenchConfig(backbone="tiny:none", galleries=(2000,), queries=2, repeats=1, photos=8))
    >>> report["galleries"][0]["query_latency"]["dcc_rerank"]["ratio_p50"]  # doctest: +SKIP
    1.3
"""
from __future__ import annotations

import dataclasses
import logging
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from calibclip.bench import encoding, inputs, queries, search
from calibclip.bench.report import targets
from calibclip.bench.timing import cuda_sync, peak_rss_mb
from calibclip.calibration.retriever import CalibratedRetriever
from calibclip.calibration.word_stats import document_frequency
from calibclip.config import CalibrationConfig
from calibclip.errors import ConfigError

log = logging.getLogger(__name__)

MAX_GALLERY = 10_000_000
DCC_CAPTIONS = 500  # generated captions whose word frequencies DCC uses when nothing else gives it any
IVFPQ_TRAIN = 50_000  # the IVF-PQ row trains on at most this many vectors (k-means grows with N) and adds all


@dataclass
class BenchConfig:
    """What ``calibclip bench`` measures and at which sizes (speed does not depend on the weights)."""

    backbone: str = "tiny"              # any backbone spec; random weights are fine
    device: str = "auto"                # auto | cpu | cuda
    galleries: tuple[int, ...] = (100_000,)  # synthetic gallery sizes (vectors) for the query and search rows
    queries: int = 5                    # distinct composite queries per gallery size
    repeats: int = 3                    # timed calls per measurement (after one warm-up)
    image_batch: int = 16               # images per encoder batch
    texts: int = 32                     # captions for the text-encoding row
    photos: int = 64                    # JPEG photos for the index-build row
    workers: int = 2                    # the index's decoding worker processes (0: in the main process)
    search_batch: int = 32              # queries per exact-search call
    threads: int = 0                    # torch and FAISS threads (0: torch's default)
    seed: int = 0
    calibration: CalibrationConfig = dataclasses.field(default_factory=CalibrationConfig)


def check_bench_config(cfg: BenchConfig) -> BenchConfig:
    """Refuse sizes that cannot run, with one line naming the flag."""
    for name in ("queries", "repeats", "image_batch", "texts", "photos", "workers", "search_batch", "threads"):
        least = 0 if name in ("workers", "threads") else 1
        if getattr(cfg, name) < least:
            raise ConfigError(f"bench {name} must be at least {least}, got {getattr(cfg, name)}")
    if not cfg.galleries or any(n < 100 or n > MAX_GALLERY for n in cfg.galleries):
        raise ConfigError(f"bench gallery sizes must lie in 100..{MAX_GALLERY:,}, got {list(cfg.galleries)}",
                          "e.g. --gallery 10000 100000 1000000")
    return cfg


def _set_threads(threads: int) -> None:
    """One thread count for torch and FAISS (a busy shared machine makes extra threads wait on each other)."""
    import faiss

    if threads:
        torch.set_num_threads(threads)
    faiss.omp_set_num_threads(torch.get_num_threads())


def _environment(device: torch.device) -> dict[str, Any]:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {"device": str(device), "gpu": gpu, "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__}


def _word_frequencies(backbone, calib: CalibrationConfig, seed: int) -> str:
    """Where DCC's word frequencies come from; without any, generated captions give them (else DCC masks nothing)."""
    if calib.dcc_corpus:
        return f"corpus {calib.dcc_corpus}"
    if backbone.word_df:
        return "backbone"
    backbone.word_df = document_frequency(inputs.composite_queries(DCC_CAPTIONS, seed + 1))
    return f"{DCC_CAPTIONS} generated captions"


def _gallery_rows(backbone, cfg: BenchConfig, calib: CalibrationConfig, size: int, sync) -> dict[str, Any]:
    gallery = inputs.synthetic_gallery(size, backbone.embed_dim, cfg.seed, calib.first_stage == "calibrated")
    texts = inputs.composite_queries(cfg.queries, cfg.seed + size)
    vectors = search.query_vectors(gallery.original, max(cfg.search_batch, 100), cfg.seed)
    row = {"size": size,
           "query_latency": queries.query_latency(backbone, calib, gallery, texts, cfg.repeats, sync),
           "search": [search.exact_search(gallery.original, vectors, batch, cfg.repeats, sync)
                      for batch in sorted({1, cfg.search_batch})],
           "storage": search.storage(gallery, vectors[:100], IVFPQ_TRAIN)}
    log.info("gallery %d done (peak RSS %.0f MiB)", size, peak_rss_mb())
    return row


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Run every measurement; returns the JSON report (see ``docs/benchmarks.md`` for each field)."""
    from calibclip.backbones import load_backbone, resolve_device

    cfg = check_bench_config(cfg)
    _set_threads(cfg.threads)
    device = resolve_device(cfg.device)
    backbone = load_backbone(cfg.backbone, device)
    sync = cuda_sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    calib = CalibratedRetriever(backbone, cfg.calibration).cfg  # resolved and checked
    captions = inputs.composite_queries(cfg.texts, cfg.seed)
    frequencies = _word_frequencies(backbone, calib, cfg.seed)
    report: dict[str, Any] = {"backbone": cfg.backbone, "environment": _environment(device),
                              "config": {**dataclasses.asdict(cfg), "calibration": dataclasses.asdict(calib)}}
    report["image_encode"] = encoding.image_encoding(backbone, calib, cfg.image_batch, cfg.repeats, sync)
    report["text_encode"] = {**encoding.text_encoding(backbone, calib, captions, cfg.repeats, sync),
                             "dcc_word_frequencies": frequencies}
    with tempfile.TemporaryDirectory(prefix="calibclip-bench-") as folder:
        report["index_build"] = encoding.index_build(backbone, calib, Path(folder), cfg.photos, cfg.image_batch,
                                                     cfg.workers, max(1, cfg.repeats - 1), sync, cfg.seed)
    report["galleries"] = [_gallery_rows(backbone, cfg, calib, size, sync) for size in cfg.galleries]
    report["memory"] = {"peak_rss_mb": peak_rss_mb(),
                        "gpu_peak_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
                        else None}
    report["targets"] = targets(report)
    return report


__all__ = ["BenchConfig", "run_bench", "check_bench_config"]
