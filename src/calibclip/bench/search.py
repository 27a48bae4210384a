"""Search-side measurements on a gallery matrix: exact search vs FAISS flat, and bytes per image stored.

Exact search is what calibclip runs on the plain matrix (``similarities``: float32
scoring of the stored fp16 values, then ``top_k``); FAISS flat (``IndexFlatIP``)
runs on the same float32 values. Storage compares the fp16 vectors
(plain + calibrated) with an IVF-PQ layout: the plain vectors in the index's IVF-PQ
(first stage), the calibrated ones as PQ codes addressed by row (only the top K
are decoded for the rerank), with IVF-PQ's recall@10 against exact search.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from calibclip.bench.timing import interleaved, rate
from calibclip.calibration.retriever import GalleryFeatures, similarities
from calibclip.index.vectors import CANDIDATES, build_ivfpq, candidate_ids, training_rows
from calibclip.ranking import top_k

TOP = 10


def query_vectors(gallery: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """Queries near gallery items (a perturbed random row each), float32 unit vectors."""
    gen = torch.Generator().manual_seed(seed)
    rows = gallery[torch.randint(0, len(gallery), (count,), generator=gen)].float()
    noise = torch.randn(rows.shape, generator=gen) * (0.5 / rows.shape[1] ** 0.5)
    return torch.nn.functional.normalize(rows + noise, dim=-1)


def exact_search(matrix: torch.Tensor, queries: torch.Tensor, batch: int, repeats: int,
                 sync: Callable[[], None]) -> dict[str, Any]:
    """queries/s of calibclip's exact search vs FAISS ``IndexFlatIP`` on the same vectors, ``batch`` at a time."""
    import faiss

    flat = faiss.IndexFlatIP(matrix.shape[1])
    flat.add(matrix.float().cpu().numpy())
    block = queries[:batch]
    ours = top_k(similarities(block, matrix), TOP)
    _, theirs = flat.search(block.numpy(), TOP)
    agree = _recall(ours.tolist(), theirs.tolist())
    times = interleaved({"exact": lambda: top_k(similarities(block, matrix), TOP),
                         "faiss_flat": lambda: flat.search(block.numpy(), TOP)}, repeats, sync)
    exact, faiss_qps = rate(len(block), times["exact"]), rate(len(block), times["faiss_flat"])
    return {"batch": len(block), "exact_qps": exact, "faiss_flat_qps": faiss_qps, "ratio": exact / faiss_qps,
            "top10_agreement": agree}


def storage(gallery: GalleryFeatures, queries: torch.Tensor, train_rows: int) -> dict[str, Any]:
    """Bytes per image of the fp16 vectors and of an IVF-PQ layout, with IVF-PQ's recall@10 against exact search.

    IVF-PQ is the index's own (``index.vectors.build_ivfpq``) over the plain vectors, plus
    the calibrated vectors as PQ codes of the same size; both are trained on at most
    ``train_rows`` evenly spaced vectors and filled with all of them, so the bytes are those
    of the whole gallery. ``recall_at_10``: the IVF-PQ ranking alone (what that layout can
    return); ``recall_at_10_rescored``: the index's ``ivfpq`` search, whose ``CANDIDATES``
    candidates are rescored from the stored fp16 vectors.
    """
    import faiss

    size, dim = gallery.original.shape
    ivf = build_ivfpq(gallery.original.numpy(), np.arange(size), train_rows)
    codes = faiss.IndexPQ(dim, ivf.pq.M, ivf.pq.nbits, faiss.METRIC_INNER_PRODUCT)
    codes.pq.cp.min_points_per_centroid = 1  # small benches: train anyway, no warnings (as build_ivfpq)
    sample = training_rows(size, min(train_rows, max(ivf.nlist * 39, 10_000)))
    codes.train(gallery.calibrated[torch.from_numpy(sample)].float().numpy())
    for start in range(0, size, 1 << 16):
        codes.add(gallery.calibrated[start:start + (1 << 16)].float().numpy())
    stored = len(faiss.serialize_index(ivf)) + len(faiss.serialize_index(codes))
    exact = top_k(similarities(queries, gallery.original), TOP).tolist()
    _, approximate = ivf.search(queries.numpy(), TOP)
    rescored = []
    for query in queries:
        found = candidate_ids(ivf, query[None].numpy(), CANDIDATES)
        rescored.append(found[top_k(similarities(query[None], gallery.original[found]), TOP)[0]].tolist())
    return {"dim": dim, "fp16_bytes_per_image": 2 * 2 * dim,  # both vectors as stored in fp16
            "ivfpq_bytes_per_image": stored / size,
            "ivfpq": {"lists": int(ivf.nlist), "nprobe": int(ivf.nprobe), "code_bytes": int(ivf.pq.code_size),
                      "recall_at_10": _recall(approximate.tolist(), exact),
                      "recall_at_10_rescored": _recall(rescored, exact), "candidates": CANDIDATES,
                      "vectors": size, "trained_on": len(training_rows(size, train_rows)),
                      "queries": len(queries)}}


def _recall(found: list[list[int]], truth: list[list[int]]) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth)]))


__all__ = ["query_vectors", "exact_search", "storage"]
