"""Search-side measurements on a gallery matrix: exact search vs FAISS flat, and bytes per image stored.

Exact search is what calibclip runs on the plain matrix (``similarities``: float32
scoring of the stored fp16 values, then ``top_k``); FAISS flat (``IndexFlatIP``)
runs on the same float32 values. Storage compares the fp16 vectors
(plain + calibrated) with an IVF-PQ layout: the plain vectors in an IVF-PQ index
(first stage), the calibrated ones as PQ codes addressed by row (only the top K
are decoded for the rerank), with IVF-PQ's recall@10 against exact search.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from calibclip.bench.timing import interleaved, rate
from calibclip.calibration.retriever import GalleryFeatures, similarities
from calibclip.ranking import top_k

TOP = 10
PQ_BYTES = 64        # bytes per vector of a PQ code (64 sub-quantizers × 8 bits)
NPROBE = 32          # IVF lists visited per query


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
    agree = float(np.mean([len(set(a) & set(b)) / TOP for a, b in zip(ours.tolist(), theirs.tolist())]))
    times = interleaved({"exact": lambda: top_k(similarities(block, matrix), TOP),
                         "faiss_flat": lambda: flat.search(block.numpy(), TOP)}, repeats, sync)
    exact, faiss_qps = rate(len(block), times["exact"]), rate(len(block), times["faiss_flat"])
    return {"batch": len(block), "exact_qps": exact, "faiss_flat_qps": faiss_qps, "ratio": exact / faiss_qps,
            "top10_agreement": agree}


def storage(gallery: GalleryFeatures, queries: torch.Tensor) -> dict[str, Any]:
    """Bytes per image: fp16 plain + calibrated vectors, and the IVF-PQ layout with its recall@10 vs exact."""
    import faiss

    size, dim = gallery.original.shape
    fp16 = 2 * 2 * dim  # both vectors stored in fp16 (the index files; the scan copy in RAM is float32)
    plain = gallery.original.float().numpy()
    lists = int(min(4096, max(16, round(size ** 0.5))))
    ivf = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, lists, PQ_BYTES, 8, faiss.METRIC_INNER_PRODUCT)
    sample = plain[np.random.default_rng(0).permutation(size)[:max(lists * 39, 10_000)]]
    ivf.train(sample)
    ivf.add(plain)
    ivf.nprobe = min(NPROBE, lists)
    codes = faiss.IndexPQ(dim, PQ_BYTES, 8, faiss.METRIC_INNER_PRODUCT)
    codes.train(gallery.calibrated[:len(sample)].float().numpy())
    codes.add(gallery.calibrated.float().numpy())
    stored = len(faiss.serialize_index(ivf)) + len(faiss.serialize_index(codes))
    _, approximate = ivf.search(queries.numpy(), TOP)
    exact = top_k(similarities(queries, gallery.original), TOP)
    recall = float(np.mean([len(set(a) & set(b)) / TOP for a, b in zip(approximate.tolist(), exact.tolist())]))
    return {"dim": dim, "fp16_bytes_per_image": fp16, "ivfpq_bytes_per_image": stored / size,
            "ivfpq": {"lists": lists, "nprobe": ivf.nprobe, "code_bytes": PQ_BYTES, "recall_at_10": recall,
                      "queries": len(queries)}}


__all__ = ["query_vectors", "exact_search", "storage"]
