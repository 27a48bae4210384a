"""``calibclip index --ray``: embedding extraction as a Ray Data job whose shards the index merges.

The driver scans the folder and diffs it against the database exactly as a local
run does (``scan.plan``). The files to read become a Ray Dataset; ``map_batches``
runs ``EmbedFiles`` actors (each loads the backbone once) that read, hash, decode
and encode their files with the indexer's own code and return one row per file,
written as Parquet shards (``shards``: on a multi-node cluster, a folder every
node can write, such as a shared mount or an ``s3://`` URI). The driver then
merges the shards into SQLite batch by batch through the indexer's own commit,
with the vectors taken from the shards: the database ends up as a local run
would leave it (same skips, same content dedup, one transaction per batch).

Example:
    >>> indexer = RayIndexer("photos.db", "openclip:ViT-B-16:openai", address="auto")  # doctest: +SKIP
    >>> summary = indexer.run("/shared/photos")                                        # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from calibclip.backbones.base import Backbone
from calibclip.config import CalibrationConfig, from_dict
from calibclip.index.encode import inference_context
from calibclip.index.indexer import Indexer, IndexSummary, _Decoded, _encode, _ReadDataset
from calibclip.index.relevance import REFERENCE_CAPTIONS
from calibclip.index.scan import FileStat
from calibclip.index.store import ImageVectors, Store

# shard columns besides the file's identity; vectors as fp16 bytes, the suppressed patches as uint8 bytes
_BLOBS = {"original": np.float16, "calibrated": np.float16, "heat": np.float16, "dominant": np.uint8}


class EmbedFiles:
    """A Ray Data actor: the backbone once, then batches of files → one row per file (vectors, or why not)."""

    def __init__(self, spec: str, calibration: dict, device: str = "cpu", threads: int = 1) -> None:
        from calibclip.backbones import load_backbone

        torch.set_num_threads(max(1, threads))
        self.backbone = load_backbone(spec, device)
        self.cfg = from_dict(CalibrationConfig, calibration)
        self.reference = self.backbone.embed_texts(list(REFERENCE_CAPTIONS))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        files = [FileStat(str(p), int(s), int(m)) for p, s, m in zip(batch["path"], batch["size"], batch["mtime_ns"])]
        reader = _ReadDataset(files, self.backbone.preprocess)
        decoded = [reader[i] for i in range(len(files))]
        good = [d for d in decoded if d.error is None]
        with inference_context(self.backbone.device):
            encoded = _encode(self.backbone, torch.stack([d.pixels for d in good]), self.cfg, self.reference) \
                if good else []
        vectors = {d.index: v for d, v in zip(good, encoded)}
        rows = [_row(f, d, vectors.get(d.index)) for f, d in zip(files, decoded)]
        return {key: np.array([r[key] for r in rows], dtype=object) for key in rows[0]}


def _row(f: FileStat, d: _Decoded, v: ImageVectors | None) -> dict[str, Any]:
    row = {"path": f.path, "size": f.size, "mtime_ns": f.mtime_ns, "sha256": d.sha256, "width": d.size[0],
           "height": d.size[1], "error": d.error or "",
           "ref_mean": np.nan if v is None else v.ref_mean, "ref_std": np.nan if v is None else v.ref_std}
    for name, dtype in _BLOBS.items():
        value = None if v is None else getattr(v, name)
        row[name] = b"" if value is None else np.ascontiguousarray(value, dtype=dtype).tobytes()
    return row


def _vectors(row: dict[str, Any]) -> ImageVectors:
    arrays = {name: np.frombuffer(row[name], dtype=dtype) if row[name] else None for name, dtype in _BLOBS.items()}
    return ImageVectors(**arrays, ref_mean=float(row["ref_mean"]), ref_std=float(row["ref_std"]))


def _shard_batches(folder: Path, size: int) -> Iterator[list[dict[str, Any]]]:
    """The shards' rows in path order, ``size`` at a time."""
    import pyarrow.parquet as pq

    table = pq.read_table(str(folder)).sort_by("path")
    for start in range(0, table.num_rows, size):
        yield table.slice(start, size).to_pylist()


class RayIndexer(Indexer):
    """``Indexer`` whose reading and encoding run as a Ray Data job (see module docstring).

    Args:
        address: the Ray cluster (``"auto"``, ``"ray://host:10001"``); None: the running
            ``ray.init()`` of this process, else a local cluster started here.
        shards: where the Parquet shards go (every node must reach it); default: a temporary
            folder beside the database, removed after the merge.
        gpus_per_worker: GPUs each encoding actor takes (actors then encode on ``cuda``).
        Other arguments as for ``Indexer``; ``workers`` is the number of encoding actors.
    """

    def __init__(self, db: str | Path, backbone: Backbone | str | None = None, device: str = "auto",
                 cfg: CalibrationConfig | None = None, batch_size: int = 32, workers: int = 2,
                 kind: str | None = None, address: str | None = None, shards: str | Path | None = None,
                 gpus_per_worker: float = 0) -> None:
        super().__init__(db, backbone, device, cfg, batch_size, max(1, workers), kind)
        self.address, self.shards, self.gpus_per_worker = address, shards, gpus_per_worker
        self._from_shards: dict[str, ImageVectors] = {}

    def _read_and_encode(self, store: Store, backbone: Backbone, files: list[FileStat], known: dict,
                         cfg: CalibrationConfig, summary: IndexSummary) -> float:
        if not files:
            return 0.0
        start = time.perf_counter()
        folder = Path(self.shards) if self.shards else Path(tempfile.mkdtemp(prefix=f"{self.db.name}.shards-",
                                                                               dir=self.db.parent))
        try:
            self._extract(backbone.spec.raw, files, cfg, folder)
            for rows in _shard_batches(folder, self.batch_size):
                self._from_shards = {r["sha256"]: _vectors(r) for r in rows if not r["error"]}
                batch = [(FileStat(r["path"], r["size"], r["mtime_ns"]),
                          _Decoded(i, r["sha256"], None, (r["width"], r["height"]), r["error"] or None))
                         for i, r in enumerate(rows)]
                self._commit(store, backbone, batch, known, cfg, summary)
        finally:
            self._from_shards = {}
            if not self.shards:
                shutil.rmtree(folder, ignore_errors=True)
        return time.perf_counter() - start

    def _vectors_of(self, backbone: Backbone, decoded: list[_Decoded],
                    cfg: CalibrationConfig) -> dict[str, ImageVectors]:
        return {d.sha256: self._from_shards[d.sha256] for d in decoded}

    def _extract(self, spec: str, files: list[FileStat], cfg: CalibrationConfig, folder: Path) -> None:
        """The Ray Data job: files → ``EmbedFiles`` actors → Parquet shards in ``folder``."""
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
        items = [{"path": f.path, "size": f.size, "mtime_ns": f.mtime_ns} for f in files]
        device = "cuda" if self.gpus_per_worker else "cpu"
        dataset = ray.data.from_items(items).map_batches(
            EmbedFiles, fn_constructor_kwargs={"spec": spec, "calibration": dataclasses.asdict(cfg), "device": device},
            batch_size=self.batch_size, concurrency=self.workers, num_cpus=1, num_gpus=self.gpus_per_worker,
            batch_format="numpy")
        dataset.write_parquet(str(folder))


__all__ = ["RayIndexer", "EmbedFiles"]
