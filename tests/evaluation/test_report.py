"""Report rendering: metric rows, Markdown, JSON and the self-contained HTML page, on real files."""
import base64
import io
import json
import logging
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from calibclip.cli.common import format_table
from calibclip.evaluation.report import (QueryResults, Table, Thumb, markdown_table, metrics_table, write_html_report,
                                         write_json, write_markdown_table)

RESULTS = {
    "baseline": {"rank1": 50.0, "mAP": 40.25, "num_queries": 8},
    "calibrated": {"rank1": 62.5, "mAP": 41.0, "num_queries": 8},
    "composite": {"rank1": 37.5, "num_queries": 8},
}


def test_metrics_table_rows_and_deltas():
    rows = metrics_table(RESULTS)
    assert rows == [
        {"method": "baseline", "rank1": 50.0, "mAP": 40.25},
        {"method": "calibrated", "rank1": 62.5, "mAP": 41.0},
        {"method": "composite", "rank1": 37.5},
        {"method": "Δ calibrated", "rank1": 12.5, "mAP": 0.75},
        {"method": "Δ composite", "rank1": -12.5},
    ]
    text = format_table(rows, ["method", "rank1", "mAP"]).splitlines()
    assert text[0].split() == ["method", "rank1", "mAP"] and text[-1].split() == ["Δ", "composite", "-12.50"]


def test_metrics_table_explicit_columns_and_baseline():
    rows = metrics_table(RESULTS, columns=["rank1", "num_queries"], baseline="calibrated")
    assert rows[-2:] == [{"method": "Δ baseline", "rank1": -12.5, "num_queries": 0},
                         {"method": "Δ composite", "rank1": -25.0, "num_queries": 0}]
    assert metrics_table({}) == []
    with pytest.raises(ValueError, match="baseline 'plain' is not among the methods"):
        metrics_table(RESULTS, baseline="plain")


def test_markdown_table_format(tmp_path):
    rows = [{"method": "a|b", "R@1": 1.0, "note": None}, {"method": "Δ c", "R@1": -2.345, "note": "x"}]
    expected = ("| method | R@1 | note |\n"
                "|---|---:|---|\n"
                "| a\\|b | 1.00 |  |\n"
                "| Δ c | -2.35 | x |\n")
    assert markdown_table(rows) == expected
    path = write_markdown_table(tmp_path / "out" / "table.md", rows, ["R@1", "method"])
    assert path.read_text(encoding="utf-8") == "| R@1 | method |\n|---:|---|\n| 1.00 | a\\|b |\n| -2.35 | Δ c |\n"


def test_write_json_plain_values(tmp_path):
    obj = {"R@1": np.float32(0.5), "n": np.int64(3), "ranks": np.arange(3), "bad": float("nan"),
           "path": tmp_path, "ids": (1, 2), 7: "Δ", "table": Table("t", [])}
    path = write_json(tmp_path / "deep" / "m.json", obj)
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "R@1": 0.5, "n": 3, "ranks": [0, 1, 2], "bad": None, "path": str(tmp_path), "ids": [1, 2], "7": "Δ",
        "table": {"title": "t", "rows": [], "columns": None}}
    assert "Δ" in path.read_text(encoding="utf-8")


def test_failed_write_leaves_target_and_no_temp_file(tmp_path):
    target = tmp_path / "report.json"
    target.mkdir()
    (target / "keep.txt").write_text("data")
    with pytest.raises(OSError):
        write_json(target, {"a": 1})
    assert (target / "keep.txt").read_text() == "data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def test_html_report_is_self_contained_with_escaped_text(tmp_path, caplog):
    Image.new("RGBA", (60, 240), (0, 0, 255, 128)).save(tmp_path / "tall.png")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    red = Image.new("RGB", (300, 150), "red")
    thumbs = [Thumb(red, "HR", caption="and: <0.31>"), Thumb(tmp_path / "tall.png", "MR"),
              Thumb(str(tmp_path / "tall.png"), "IR"), Thumb(red, None)]
    galleries = [QueryResults('<b>"red" & coat</b>', {"baseline": thumbs, "calibrated": thumbs[::-1]},
                              note="NOT: <hat>"),
                 QueryResults("second", {"baseline": [Thumb(tmp_path / "broken.jpg", "miss"), Thumb(red, "match")]})]
    table = Table("Metrics <ours>", metrics_table(RESULTS))
    with caplog.at_level(logging.WARNING, logger="calibclip.evaluation.report"):
        path = write_html_report(tmp_path / "r" / "report.html", "Demo & co", [table], galleries, thumb_size=64)
    page = path.read_text(encoding="utf-8")

    assert "&lt;b&gt;&quot;red&quot; &amp; coat&lt;/b&gt;" in page and '<b>"red"' not in page
    assert "and: &lt;0.31&gt;" in page and "NOT: &lt;hat&gt;" in page and "Metrics &lt;ours&gt;" in page
    assert "<title>Demo &amp; co</title>" in page and "<td class=\"num\">12.50</td>" in page
    parser = _Images()
    parser.feed(page)
    assert len(parser.sources) == page.count("<img") == 9  # 4 + 4 + 1 readable; the broken file is a placeholder
    assert page.count("unreadable</span>") == 1 and "http" not in page
    sizes = set()
    for src in parser.sources:
        prefix, data = src.split(",", 1)
        assert prefix == "data:image/jpeg;base64"
        with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as image:
            assert image.format == "JPEG"
            sizes.add(image.size)
    assert sizes == {(64, 32), (16, 64)}  # aspect kept, longest side = thumb_size
    assert page.count('class="good"') == 3 and page.count('class="partial"') == 2
    assert page.count('class="wrong"') == 3
    assert "1 thumbnail(s) could not be read" in caplog.text and "broken.jpg" in caplog.text


def test_bad_report_arguments_raise_one_clear_line(tmp_path):
    with pytest.raises(ValueError, match="unknown grade 'great'"):
        Thumb(Image.new("RGB", (4, 4)), grade="great")
    with pytest.raises(ValueError, match="thumb_size must be at least 8"):
        write_html_report(tmp_path / "r.html", "t", [], [], thumb_size=0)
    assert not (tmp_path / "r.html").exists()
