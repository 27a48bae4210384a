"""The targets of the performance issue checked against a bench report, and the report as table rows."""
from __future__ import annotations

from typing import Any

# (name, where the value is read, comparison, bound); the query targets are stated for a 1M-vector gallery
TARGETS = (
    ("calibrated image encoding / plain", ("image_encode", "ratio"), ">=", 0.95),
    ("DCC + rerank latency / plain", ("query_latency", "dcc_rerank", "ratio_p50"), "<=", 1.5),
    ("composite latency / plain", ("query_latency", "composite", "ratio_p50"), "<=", 3.0),
    ("index build / model only (GPU target)", ("index_build", "ratio"), ">=", 0.8),
    ("exact search / FAISS flat QPS", ("search", "ratio"), ">=", 0.9),
    ("bytes per image, fp16 plain + calibrated", ("storage", "fp16_bytes_per_image"), "<=", 2200),
    ("bytes per image, IVF-PQ", ("storage", "ivfpq_bytes_per_image"), "<=", 150),
)


def _read(report: dict[str, Any], path: tuple[str, ...]) -> tuple[Any, str]:
    """The value at ``path`` (gallery rows: the largest gallery; search: the largest batch) and where it came from."""
    head, *rest = path
    if head in report:
        node, where = report[head], ""
    else:
        largest = report["galleries"][-1]
        node, where = largest[head], f"N={largest['size']:,}"
        if isinstance(node, list):
            node = node[-1]
            where += f", batch {node['batch']}"
    for key in rest:
        node = node[key]
    return node, where


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with the measured value and whether it is met."""
    out = []
    for name, path, op, bound in TARGETS:
        value, where = _read(report, path)
        met = value >= bound if op == ">=" else value <= bound
        out.append({"target": name, "value": value, "bound": f"{op} {bound:g}", "met": bool(met), "at": where})
    return out


def table_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per measurement: plain figure, method figure, ratio (the CLI table)."""
    image, text, build = report["image_encode"], report["text_encode"], report["index_build"]
    rows = [_row("image encode img/s: plain | calibrated", image["plain_img_s"], image["calibrated_img_s"]),
            _row("text encode q/s: plain | DCC", text["plain_q_s"], text["dcc_q_s"]),
            _row("index build img/s: model only | from JPEG", build["model_only_img_s"], build["build_img_s"]),
            _row("bytes/image: fp16 vectors | index database",
                 report["galleries"][0]["storage"]["fp16_bytes_per_image"], build["db_bytes_per_image"])]
    for gallery in report["galleries"]:
        size, latency = f"N={gallery['size']:,}", gallery["query_latency"]
        for name, label in (("dcc_rerank", "DCC + rerank"), ("composite", "composite"),
                            ("composite_calibrated", "composite + calibrated")):
            rows.append(_row(f"query p50 ms {size}: plain | {label}", latency["plain"]["p50_ms"],
                             latency[name]["p50_ms"]))
        for search in gallery["search"]:
            rows.append(_row(f"search QPS {size} batch {search['batch']}: FAISS flat | exact",
                             search["faiss_flat_qps"], search["exact_qps"]))
        store = gallery["storage"]
        rows.append(_row(f"bytes/image {size}: fp16 | IVF-PQ (recall@10 "
                         f"{store['ivfpq']['recall_at_10']:.2f})", store["fp16_bytes_per_image"],
                         store["ivfpq_bytes_per_image"]))
    return rows


def _row(what: str, plain: float, method: float) -> dict[str, Any]:
    return {"measurement": what, "plain": round(plain, 2), "method": round(method, 2),
            "ratio": round(method / plain, 2)}


__all__ = ["TARGETS", "targets", "table_rows"]
