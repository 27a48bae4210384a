"""Serve an index's vectors from Qdrant: export them, let Qdrant find candidates, rerank those with the methods.

``export_to_qdrant`` copies every image of an index database into a Qdrant
collection: point id = the image's database id, two named vectors (``original``,
``calibrated``; inner product, stored as given, so scores equal the local ones)
and a payload (path, reference-caption statistics). ``QdrantSearcher`` is the
``Searcher`` whose candidate set comes from Qdrant: the plain query vector asks
Qdrant for its nearest ``candidates`` images with their vectors, and CalibCLIP
(DCC, CVE vectors, top-K rerank) and CsdCLIP (clauses, z-scores) run over those
candidates, so a collection too large for one machine keeps both methods. The
SQLite database still answers for paths and explanations (it needs no vectors
for that). Composite z-scores are taken over the candidates, as with ``ivfpq``.

``location`` is a folder (Qdrant's local mode, on disk), ``":memory:"``, or a
server URL (``http://host:6333``); a server's own index (HNSW, quantization) is
then Qdrant's choice.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from calibclip.errors import ConfigError, CorruptData
from calibclip.index.store import Store
from calibclip.index.vectors import CANDIDATES, StoredVectors
from calibclip.search import Searcher

COLLECTION = "calibclip"
UPSERT_BATCH = 256


def qdrant_client(location: str | Path) -> Any:
    """A client for a local folder, ``":memory:"`` or a server URL."""
    try:
        from qdrant_client import QdrantClient
    except ImportError as exc:
        raise ConfigError("qdrant-client is not installed", "pip install 'calibclip[scale]'") from exc
    location = str(location)
    if location == ":memory:":
        return QdrantClient(location=location)
    if location.startswith(("http://", "https://")):
        return QdrantClient(url=location)
    return QdrantClient(path=location)


def export_to_qdrant(db: str | Path, client: Any, collection: str = COLLECTION) -> int:
    """Copy every image of the index ``db`` into ``collection`` (replaced if it exists) → images exported."""
    from qdrant_client import models

    with Store(db, create=False) as store:
        ids, original, calibrated, reference = store.rows()
        paths = {r.id: r.path for r in store.files_under("/").values()}
    if not len(ids):
        raise CorruptData(f"index {db} holds no images", "run 'calibclip index DIR --db PATH' first")
    space = {"original": models.VectorParams(size=original.shape[1], distance=models.Distance.DOT)}
    if calibrated is not None:
        space["calibrated"] = models.VectorParams(size=calibrated.shape[1], distance=models.Distance.DOT)
    if client.collection_exists(collection):
        client.delete_collection(collection)
    client.create_collection(collection, vectors_config=space)
    for start in range(0, len(ids), UPSERT_BATCH):
        rows = range(start, min(start + UPSERT_BATCH, len(ids)))
        client.upsert(collection, [models.PointStruct(
            id=int(ids[i]), vector=_named(original[i], None if calibrated is None else calibrated[i]),
            payload={"path": paths[int(ids[i])],
                     **({} if reference is None else {"ref_mean": reference[i, 0], "ref_std": reference[i, 1]})})
            for i in rows])
    return len(ids)


def _named(original: np.ndarray, calibrated: np.ndarray | None) -> dict[str, list[float]]:
    vectors = {"original": original.astype(np.float32).tolist()}
    if calibrated is not None:
        vectors["calibrated"] = calibrated.astype(np.float32).tolist()
    return vectors


class QdrantSearcher(Searcher):
    """``Searcher`` over candidates from a Qdrant collection (see module docstring).

    Example:
        >>> client = qdrant_client("photos.qdrant")                                      # doctest: +SKIP
        >>> export_to_qdrant("photos.db", client)                                        # doctest: +SKIP
        >>> QdrantSearcher("photos.db", client).search("a red car, no people", composite=True)  # doctest: +SKIP
    """

    def __init__(self, db: str | Path, client: Any, collection: str = COLLECTION, candidates: int = CANDIDATES,
                 **options: Any) -> None:
        if not client.collection_exists(collection):
            raise CorruptData(f"Qdrant has no collection {collection!r}", "run 'calibclip export-qdrant' first")
        super().__init__(db, **options)
        self.client, self.collection, self.candidates = client, collection, candidates

    def close(self) -> None:
        """Close the database and the Qdrant client (a local-mode folder is locked while open)."""
        super().close()
        self.client.close()

    def _vectors(self, query: torch.Tensor, k: int) -> StoredVectors:
        """Qdrant's nearest ``candidates`` (at least the rerank's K + 1) with their vectors."""
        want = max(self.candidates, self.cfg.rerank_k + 1)
        points = self.client.query_points(self.collection, query=query[0].float().numpy(), using="original",
                                          limit=want, with_vectors=True, with_payload=True).points
        points = sorted(points, key=lambda p: p.id)  # ascending id order, as StoredVectors.load
        calibrated = [p.vector.get("calibrated") for p in points]
        stats = [(p.payload.get("ref_mean"), p.payload.get("ref_std")) for p in points]
        return StoredVectors(
            ids=np.array([p.id for p in points], dtype=np.int64),
            original=torch.tensor([p.vector["original"] for p in points], dtype=torch.float32).reshape(len(points), -1),
            calibrated=None if not points or calibrated[0] is None else torch.tensor(calibrated, dtype=torch.float32),
            reference=None if any(s is None for pair in stats for s in pair) else np.array(stats).reshape(-1, 2))


__all__ = ["COLLECTION", "qdrant_client", "export_to_qdrant", "QdrantSearcher"]
