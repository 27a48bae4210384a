"""Query-side measurements on a gallery of N vectors: end-to-end latency per method, from text to top 10.

Every method starts from the query text and ends with the indices of its 10 best
images, as a search does: plain CLIP (one text encoding, one product, top 10),
DCC + rerank (``encode_queries`` + ``score_features(baseline=False)``), composite
(rule rewriter, 3 AND + 1 NOT, one text batch, explanations for the top 10) and
composite over CalibCLIP.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from calibclip.backbones.base import Backbone
from calibclip.bench.timing import interleaved, latency
from calibclip.calibration.retriever import CalibratedRetriever, GalleryFeatures, score_features, similarities
from calibclip.composite.rewriters import create_rewriter
from calibclip.composite.search import CompositeSearcher
from calibclip.config import CalibrationConfig
from calibclip.index.encode import inference_context
from calibclip.ranking import top_k

METHODS = ("plain", "dcc_rerank", "composite", "composite_calibrated")
TOP = 10


def _methods(backbone: Backbone, cfg: CalibrationConfig,
             gallery: GalleryFeatures) -> dict[str, Callable[[str], Any]]:
    retriever = CalibratedRetriever(backbone, cfg)
    retriever.gallery = gallery
    rule = create_rewriter("rule")
    composite = CompositeSearcher(backbone, rewriter=rule)
    stacked = CompositeSearcher(backbone, rewriter=rule, calibration=retriever)

    def plain(query: str) -> Any:
        with inference_context(backbone.device):
            text = backbone.embed_texts([query])
        return top_k(similarities(text, gallery.original), TOP)

    def dcc_rerank(query: str) -> Any:
        scores = score_features(retriever.encode_queries([query]), gallery, retriever.cfg, baseline=False)
        return top_k(scores["calibrated"], TOP)

    return {"plain": plain, "dcc_rerank": dcc_rerank,
            "composite": lambda q: top_k(composite.score([q], gallery.original, explain_top=TOP).composite, TOP),
            "composite_calibrated": lambda q: top_k(stacked.score([q], explain_top=TOP).composite, TOP)}


def query_latency(backbone: Backbone, cfg: CalibrationConfig, gallery: GalleryFeatures, queries: Sequence[str],
                  repeats: int, sync: Callable[[], None]) -> dict[str, Any]:
    """p50/p95 ms per method over every query × repeat, and each method's ratio to plain."""
    methods = _methods(backbone, cfg, gallery)
    times: dict[str, list[float]] = {name: [] for name in METHODS}
    for i, query in enumerate(queries):
        runs = {name: (lambda fn=methods[name], q=query: fn(q)) for name in METHODS}
        for name, values in interleaved(runs, repeats, sync, warmup=i == 0).items():
            times[name].extend(values)
    out: dict[str, Any] = {"gallery": len(gallery.original), "queries": len(queries), "repeats": repeats}
    plain = latency(times["plain"])
    for name in METHODS:
        stats = latency(times[name])
        out[name] = {**stats, "ratio_p50": stats["p50_ms"] / plain["p50_ms"]}
    return out


__all__ = ["query_latency", "METHODS"]
