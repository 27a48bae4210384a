"""Vector search over the stored embeddings: exact by default, FAISS IVF-PQ for large collections.

Vectors are stored as fp16 in the database and scored in float32. ``exact``
scores every image (a float32 inner product: the same numbers FAISS's
``IndexFlatIP`` gives, ranked with the project's stable tie-break), so results
are the brute-force ones. ``ivfpq`` asks a FAISS IVF-PQ index (built from the
plain embeddings, cached beside the database and rebuilt when the database
changed) for candidates, then rescores the candidates exactly from the stored
vectors; ``check_recall`` measures how often that finds the exact top k.
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from calibclip.errors import ConfigError
from calibclip.index.store import Store

log = logging.getLogger(__name__)

KINDS = ("exact", "ivfpq")
CANDIDATES = 1024          # ivfpq: candidates rescored exactly per query (at least k and the rerank K)


@dataclass
class StoredVectors:
    """Embeddings of a set of indexed images, float32, rows in ascending id order."""

    ids: np.ndarray                     # (N,) int64 database ids
    original: torch.Tensor              # (N, D) plain embeddings
    calibrated: torch.Tensor | None     # (N, D) CVE embeddings, None when the index has none
    reference: np.ndarray | None = None  # (N, 2) reference-caption mean and std (``index.relevance``)

    @classmethod
    def load(cls, store: Store, ids=None) -> "StoredVectors":
        """All vectors of ``store``, or those of ``ids`` (ascending id order either way)."""
        id_array, original, calibrated, reference = store.rows(ids)
        to32 = (lambda a: torch.from_numpy(a.astype(np.float32)))
        return cls(id_array, to32(original), None if calibrated is None else to32(calibrated), reference)

    def __len__(self) -> int:
        return len(self.ids)


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"unknown index kind {kind!r}", f"choose one of: {', '.join(KINDS)}")
    return kind


def _pq_shape(n: int, dim: int) -> tuple[int, int, int]:
    """(lists, sub-quantizers, bits) that FAISS can train on ``n`` vectors of ``dim``."""
    lists = max(1, min(int(4 * math.sqrt(n)), n // 39))
    subs = max(m for m in range(1, dim // 8 + 1) if dim % m == 0) if dim >= 8 else 1
    bits = 8 if n >= 256 * 39 else max(1, min(8, int(math.log2(max(2, n // 39)))))
    return lists, subs, bits


def training_rows(n: int, count: int) -> np.ndarray:
    """``min(count, n)`` evenly spaced row numbers of ``n`` rows (at least 2): a training sample."""
    return np.unique(np.linspace(0, n - 1, max(2, min(count, n))).astype(np.int64))


def build_ivfpq(original: np.ndarray, ids: np.ndarray, train_rows: int | None = None, add_block: int = 1 << 16):
    """Train and fill an IVF-PQ inner-product index over ``original`` (labels: database ids).

    ``train_rows`` caps the training set at that many evenly spaced rows (k-means grows with
    it; the list count follows the training set); every row is added either way, ``add_block``
    rows at a time (each converted to float32 on its own).
    """
    import faiss

    n, dim = original.shape
    if n < 2:
        raise ConfigError(f"ivfpq needs at least 2 indexed images, the index has {n}", "use --index exact")
    train = original if train_rows is None or train_rows >= n else original[training_rows(n, train_rows)]
    lists, subs, bits = _pq_shape(len(train), dim)
    index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, lists, subs, bits, faiss.METRIC_INNER_PRODUCT)
    index.cp.min_points_per_centroid = 1     # small collections: train anyway, no warnings
    index.pq.cp.min_points_per_centroid = 1
    index.train(np.ascontiguousarray(train, dtype=np.float32))
    ids = ids.astype(np.int64)
    for start in range(0, n, add_block):
        index.add_with_ids(np.ascontiguousarray(original[start:start + add_block], dtype=np.float32),
                           ids[start:start + add_block])
    index.nprobe = min(lists, 16)
    return index


class IvfpqCache:
    """The IVF-PQ index of a database, saved beside it as ``<db>.ivfpq.faiss`` (+ ``.json`` stamp)."""

    def __init__(self, db: str | Path) -> None:
        self.path = Path(str(db) + ".ivfpq.faiss")
        self.stamp = Path(str(db) + ".ivfpq.json")

    def load(self, store: Store):
        """The cached index if it matches the database's generation, else a rebuilt (and saved) one."""
        import faiss

        generation = store.generation()
        if self.path.is_file() and self.stamp.is_file():
            try:
                if json.loads(self.stamp.read_text()).get("generation") == generation:
                    return faiss.read_index(str(self.path))
            except (OSError, ValueError, RuntimeError) as exc:
                log.warning("rebuilding the IVF-PQ cache %s: %s", self.path, exc)
        return self.rebuild(store, generation)

    def rebuild(self, store: Store, generation: int | None = None):
        import faiss

        ids, original, _ = store.matrices()
        index = build_ivfpq(original.astype(np.float32), ids)
        tmp = self.path.with_suffix(".tmp")
        try:
            faiss.write_index(index, str(tmp))
            os.replace(tmp, self.path)
            self.stamp.write_text(json.dumps({"generation": store.generation() if generation is None
                                              else generation}))
        except OSError as exc:  # a read-only folder still searches, it just rebuilds next time
            log.warning("cannot save the IVF-PQ cache %s: %s", self.path, exc)
        return index


def candidate_ids(index, queries: np.ndarray, k: int) -> np.ndarray:
    """Ids of the union of each query's top ``k`` from a FAISS index (unfilled slots dropped)."""
    _, labels = index.search(np.ascontiguousarray(queries, dtype=np.float32), int(k))
    return np.unique(labels[labels >= 0])


def exact_top(original: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) row positions of the exact top ``k`` by inner product (FAISS ``IndexFlatIP``)."""
    import faiss

    flat = faiss.IndexFlatIP(original.shape[1])
    flat.add(np.ascontiguousarray(original, dtype=np.float32))
    return flat.search(np.ascontiguousarray(queries, dtype=np.float32), int(k))[1]


def check_recall(store: Store, index, k: int = 10, queries: int = 200, seed: int = 0) -> dict:
    """Recall@k of IVF-PQ candidates rescored exactly, against exact search (queries: stored images).

    Each query is a stored plain embedding (an image looking for its neighbours);
    recall is the share of the exact top k that the approximate path returns.
    """
    ids, original, _ = store.matrices()
    original = original.astype(np.float32)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(ids), size=min(queries, len(ids)), replace=False)
    q = original[chosen]
    truth = exact_top(original, q, k)
    found = 0
    for row, query in enumerate(q):
        cand = np.searchsorted(ids, candidate_ids(index, query[None], max(k, CANDIDATES)))
        scores = original[cand] @ query
        top = cand[np.argsort(-scores, kind="stable")[:k]]
        found += len(set(top.tolist()) & set(truth[row].tolist()))
    return {"k": k, "queries": len(chosen), "recall": found / (len(chosen) * min(k, len(ids))),
            "nprobe": int(index.nprobe), "lists": int(index.nlist), "images": len(ids)}


__all__ = ["StoredVectors", "KINDS", "CANDIDATES", "check_kind", "build_ivfpq", "training_rows", "IvfpqCache",
           "candidate_ids", "exact_top", "check_recall"]
