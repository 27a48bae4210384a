"""Where one composite query's time goes, stage by stage, against plain search (``scripts/profile_composite.py``).

The stages of ``CompositeSearcher.score`` (no calibration) on a synthetic gallery:
encoding the query alone vs every text of the composite query in one batch, scanning
the gallery with one row vs every row, the combination (z-scores, AND/NOT, explanations
of the top 10), and both paths end to end. Median milliseconds over ``repeats`` calls
after one warm-up each.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from calibclip.backbones.base import Backbone
from calibclip.bench.inputs import composite_queries, synthetic_gallery
from calibclip.bench.timing import seconds
from calibclip.calibration.retriever import similarities
from calibclip.composite.rewriters import create_rewriter
from calibclip.composite.search import CompositeSearcher
from calibclip.index.encode import inference_context
from calibclip.ranking import top_k

TOP = 10


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    return 1000.0 * float(np.median([seconds(fn) for _ in range(repeats)]))


def composite_stages(backbone: Backbone, size: int, repeats: int = 3, seed: int = 0) -> dict[str, Any]:
    """Median ms of each stage of a plain and a composite query (3 AND + 1 NOT) over ``size`` vectors."""
    gallery = synthetic_gallery(size, backbone.embed_dim, seed).original
    query = composite_queries(1, seed + 5)[0]
    searcher = CompositeSearcher(backbone, rewriter=create_rewriter("rule"))
    scores = searcher.clause_scores([query], gallery)
    texts = list(scores.rows)  # raw, optimized, AND and NOT clauses: what the composite path encodes

    def embed(batch: list[str]) -> torch.Tensor:
        with inference_context(backbone.device):
            return backbone.embed_texts(batch)

    one, every = embed([query]), embed(texts)
    stages = {"encode_query": lambda: embed([query]), "encode_all_texts": lambda: embed(texts),
              "scan_one_row": lambda: similarities(one, gallery), "scan_all_rows": lambda: similarities(every, gallery),
              "combine_and_explain": lambda: searcher.combine(scores, TOP),
              "plain_total": lambda: top_k(similarities(embed([query]), gallery), TOP),
              "composite_total": lambda: top_k(searcher.score([query], gallery, explain_top=TOP).composite, TOP)}
    out: dict[str, Any] = {"gallery": size, "texts": len(texts), "threads": torch.get_num_threads()}
    out.update({f"{name}_ms": _median_ms(fn, repeats) for name, fn in stages.items()})
    out["ratio"] = out["composite_total_ms"] / out["plain_total_ms"]
    return out


__all__ = ["composite_stages"]
