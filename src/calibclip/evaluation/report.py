"""Render evaluation results: metric rows, JSON, Markdown, and one self-contained HTML page.

Rendering only (no torch, no scoring). Every writer builds the whole text first and
then replaces the target atomically, so a failure never leaves a half-written or
clobbered report behind.

Example:
    >>> rows = metrics_table({"baseline": {"R@1": 50.0}, "calibrated": {"R@1": 62.5}})
    >>> rows[-1]
    {'method': 'Δ calibrated', 'R@1': 12.5}
"""
from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from calibclip.datasets.images import open_image
from calibclip.errors import BadImage

logger = logging.getLogger(__name__)

# grade -> (CSS class, badge text): green = relevant/HR, amber = MR, red border = wrong
GRADES = {"HR": ("good", "HR"), "match": ("good", "✓"), "MR": ("partial", "MR"),
          "IR": ("wrong", "IR"), "miss": ("wrong", "✗"), None: ("", "")}


@dataclasses.dataclass(frozen=True)
class Thumb:
    """One ranked result in the HTML report."""

    image: Image.Image | str | Path  # a PIL image or a file to read
    grade: str | None = None  # HR | match | MR | IR | miss | None (unjudged)
    caption: str = ""  # free text under the thumbnail, e.g. clause scores

    def __post_init__(self) -> None:
        if self.grade not in GRADES:
            raise ValueError(f"unknown grade {self.grade!r}; use one of {[g for g in GRADES if g]} or None")


@dataclasses.dataclass(frozen=True)
class QueryResults:
    """One query and its top-k results under each method, shown side by side."""

    query: str
    methods: Mapping[str, Sequence[Thumb]]  # method name -> ranked results
    note: str = ""  # e.g. the parsed AND/NOT clauses


@dataclasses.dataclass(frozen=True)
class Table:
    """A titled metric table (rows as from ``metrics_table``)."""

    title: str
    rows: Sequence[Mapping[str, Any]]
    columns: Sequence[str] | None = None  # default: the first row's keys


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def metrics_table(results: Mapping[str, Mapping[str, Any]], columns: Sequence[str] | None = None,
                  baseline: str | None = None) -> list[dict[str, Any]]:
    """Rows for ``format_table``: one per method, then a ``Δ method`` row per method against the baseline.

    Args:
        results: method name -> metrics dict (e.g. from ``person_retrieval_metrics``).
        columns: metric keys to show; default: the baseline's float-valued keys, so counts
            such as ``num_queries`` stay out unless asked for.
        baseline: the method deltas are taken against; default: the first one.
    """
    if not results:
        return []
    baseline = next(iter(results)) if baseline is None else baseline
    if baseline not in results:
        raise ValueError(f"baseline {baseline!r} is not among the methods {list(results)}")
    base = results[baseline]
    if columns is None:
        columns = [key for key, value in base.items() if isinstance(value, float)]
    rows = [{"method": name, **{c: metrics[c] for c in columns if c in metrics}} for name, metrics in results.items()]
    for name, metrics in results.items():
        if name != baseline:
            rows.append({"method": f"Δ {name}", **{c: metrics[c] - base[c] for c in columns
                                                    if _is_number(metrics.get(c)) and _is_number(base.get(c))}})
    return rows


def _plain(obj: Any) -> Any:
    """JSON-ready copy: numpy values become Python ones, NaN/inf become null, paths and sets plain."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _plain(dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(key): _plain(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_plain(value) for value in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, without importing numpy
        return _plain(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float)):
        return obj
    return str(obj)


def _write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented UTF-8 JSON (non-finite floats as null), atomically."""
    return _write_text(path, json.dumps(_plain(obj), indent=2, ensure_ascii=False) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _columns(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None) -> list[str]:
    return list(columns) if columns is not None else list(rows[0]) if rows else []


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """GitHub Markdown table; numeric columns right-aligned, floats with two decimals."""
    columns = _columns(rows, columns)
    if not columns:
        return ""
    numeric = [all(_is_number(row.get(c)) for row in rows) for c in columns]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |"

    return "\n".join([line(columns), "|" + "|".join("---:" if num else "---" for num in numeric) + "|",
                      *(line([_cell(row.get(c)) for c in columns]) for row in rows)]) + "\n"


def write_markdown_table(path: str | Path, rows: Sequence[Mapping[str, Any]],
                         columns: Sequence[str] | None = None) -> Path:
    """Write ``markdown_table(rows, columns)`` to ``path``, atomically."""
    return _write_text(path, markdown_table(rows, columns))


def write_html_report(path: str | Path, title: str, tables: Sequence[Table],
                      galleries: Sequence[QueryResults], thumb_size: int = 128) -> Path:
    """Write one self-contained HTML page (inline CSS, base64 thumbnails) with tables and per-query results.

    Unreadable images become a placeholder and are counted in a warning; they never stop the report.

    Example:
        >>> from PIL import Image
        >>> hit = Thumb(Image.new("RGB", (8, 16), "red"), grade="HR", caption="and: 0.31")
        >>> path = write_html_report("/tmp/report.html", "demo", [], [QueryResults("red coat", {"baseline": [hit]})])
    """
    if thumb_size < 8:
        raise ValueError(f"thumb_size must be at least 8 pixels, got {thumb_size}")
    encoder = _ThumbEncoder(thumb_size)
    body = [f"<h1>{html.escape(title)}</h1>", *(_html_table(table) for table in tables),
            *(_html_query(number, query, encoder) for number, query in enumerate(galleries, 1)), _LEGEND]
    page = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
    if encoder.unreadable:
        logger.warning("%d thumbnail(s) could not be read and are shown as placeholders", encoder.unreadable)
    return _write_text(path, page)


class _ThumbEncoder:
    """Thumbnails as JPEG data URIs, each file encoded once however many methods rank it."""

    def __init__(self, size: int) -> None:
        self.size, self.unreadable = size, 0
        self._cache: dict[str, str | None] = {}

    def __call__(self, image: Image.Image | str | Path) -> str | None:
        if isinstance(image, Image.Image):
            return self._encode(image)
        key = str(image)
        if key not in self._cache:
            try:
                self._cache[key] = self._encode(open_image(image))
            except BadImage as exc:
                logger.warning("%s", exc.one_line())
                self._cache[key] = None
        self.unreadable += self._cache[key] is None
        return self._cache[key]

    def _encode(self, image: Image.Image) -> str:
        thumb = image.convert("RGB")
        thumb.thumbnail((self.size, self.size))
        buffer = io.BytesIO()
        thumb.save(buffer, format="JPEG", quality=85)
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


_CSS = ("body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:1em 0}"
        "caption{font-weight:600;text-align:left}th,td{border:1px solid #ccc;padding:3px 8px}td.num{text-align:right}"
        ".query{border-top:1px solid #ddd;margin-top:1em}.note{color:#555}.method h3{font-size:14px;margin:.4em 0}"
        ".thumbs{display:flex;gap:6px;list-style:none;padding:0;margin:0;overflow-x:auto}"
        ".thumbs li{position:relative;border:3px solid #ddd;border-radius:4px;padding:2px;max-width:140px}"
        ".thumbs li.good{border-color:#2e9e44}.thumbs li.partial{border-color:#e0a100}"
        ".thumbs li.wrong{border-color:#d0342c}"
        ".badge{position:absolute;top:2px;left:2px;background:#fff;border-radius:3px;padding:0 3px;font-size:11px}"
        ".good .badge{color:#2e9e44}.partial .badge{color:#b07d00}.wrong .badge{color:#d0342c}"
        ".rank{position:absolute;top:2px;right:2px;background:#0008;color:#fff;padding:0 3px;font-size:11px}"
        ".caption{display:block;font-size:11px;white-space:pre-wrap}"
        ".missing{display:flex;width:96px;height:96px;align-items:center;justify-content:center;background:#eee}")
_LEGEND = ('<p class="legend">Border: <b style="color:#2e9e44">green</b> = relevant / HR, '
           '<b style="color:#b07d00">amber</b> = MR, <b style="color:#d0342c">red</b> = wrong, grey = unjudged.</p>')


def _html_table(table: Table) -> str:
    columns = _columns(table.rows, table.columns)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_html_cell(row.get(c)) for c in columns) + "</tr>" for row in table.rows)
    return (f"<table><caption>{html.escape(table.title)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _html_cell(value: Any) -> str:
    css = ' class="num"' if _is_number(value) else ""
    return f"<td{css}>{html.escape(_cell(value))}</td>"


def _html_thumb(rank: int, thumb: Thumb, encoder: _ThumbEncoder) -> str:
    css, badge = GRADES[thumb.grade]
    uri = encoder(thumb.image)
    picture = (f'<img src="{uri}" alt="rank {rank}">' if uri else '<span class="missing">unreadable</span>')
    badge_html = f'<span class="badge">{html.escape(badge)}</span>' if badge else ""
    caption = f'<span class="caption">{html.escape(thumb.caption)}</span>' if thumb.caption else ""
    return f'<li class="{css}">{picture}{badge_html}<span class="rank">{rank}</span>{caption}</li>'


def _html_query(number: int, query: QueryResults, encoder: _ThumbEncoder) -> str:
    note = f'<p class="note">{html.escape(query.note)}</p>' if query.note else ""
    methods = "".join(f'<div class="method"><h3>{html.escape(name)}</h3><ol class="thumbs">'
                      + "".join(_html_thumb(rank, thumb, encoder) for rank, thumb in enumerate(thumbs, 1))
                      + "</ol></div>" for name, thumbs in query.methods.items())
    return f'<section class="query"><h2>{number}. {html.escape(query.query)}</h2>{note}{methods}</section>'
