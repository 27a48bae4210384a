import json

import pytest

from calibclip.cli.main import main
from calibclip.composite.clauses import parse_tigr_text

RECORDS = [
    {"text_id": "q1", "text": "a woman in a green dress dancing, no shoes | Time: none, place: none, person: none | "
     "Search intention: complex | Phrase, word expression optimization: a woman in a green dress dancing | "
     "Multi-agent logical relationship analysis: -AND: < a woman wearing a green dress, a woman dancing >, "
     "-NOT: < shoes >", "image_ids": ["a"], "image_xiangsi_ids": ["b", "c"]},
    {"text_id": "q2", "text": "a dog on a sofa without cats", "image_ids": ["d"], "image_xiangsi_ids": []},
]


def _write(path, records):
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def test_single_query_json(capsys):
    assert main(["rewrite", "a man with a hat and a scarf, no dogs", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"raw": "a man with a hat and a scarf, no dogs", "optimized": "a man with a hat and a scarf",
                   "and": ["a man with a hat", "a man with a scarf"], "not": ["dogs"]}


def test_single_query_table_prints_a_parseable_tigr_line(capsys):
    assert main(["rewrite", "一个男孩在公园里踢足球，没有狗", "--lang", "zh"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    parsed = parse_tigr_text(last)
    assert parsed.and_clauses == ("一个男孩在公园里", "一个男孩踢足球") and parsed.not_clauses == ("狗",)


@pytest.mark.parametrize("rewriter", ["rule", "gold"])
def test_batch_writes_tigr_records(tmp_path, rewriter, capsys):
    src = _write(tmp_path / "en_q.jsonl", RECORDS)
    out = tmp_path / "out" / "en_rewritten.jsonl"
    assert main(["rewrite", "--input", str(src), "--output", str(out), "--rewriter", rewriter]) == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text_id"] for r in lines] == ["q1", "q2"]
    assert lines[0]["image_ids"] == ["a"] and lines[0]["image_xiangsi_ids"] == ["b", "c"]
    first = parse_tigr_text(lines[0]["text"])
    want = ("a woman wearing a green dress", "a woman dancing") if rewriter == "gold" else \
        ("a woman in a green dress", "a woman dancing")
    assert first.raw == "a woman in a green dress dancing, no shoes" and first.and_clauses == want
    # a bare record carries no decomposition: gold keeps it as it is, rule decomposes it
    assert parse_tigr_text(lines[1]["text"]).not_clauses == (() if rewriter == "gold" else ("cats",))
    assert "rewrote 2 queries" in capsys.readouterr().out


@pytest.mark.parametrize("args, needle", [
    ([], "give either a query or --input"),
    (["a dog", "--input", "x.jsonl"], "give either a query or --input"),
    (["a dog", "--rewriter", "gold"], "gold rewriter needs TIGR records"),
    (["   "], "empty query"),
    (["a dog", "--rewriter", "openai", "--base-url", "http://127.0.0.1:9/v1", "--retries", "0"], "LLM endpoint"),
])
def test_bad_rewrite_input_is_one_line_exit_2(args, needle, capsys):
    assert main(["rewrite", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err


def test_batch_refuses_to_overwrite_input_and_reports_bad_lines(tmp_path, capsys):
    src = _write(tmp_path / "en_q.jsonl", RECORDS)
    assert main(["rewrite", "--input", str(src), "--output", str(src)]) == 2
    assert "is the input file" in capsys.readouterr().err
    bad = tmp_path / "en_bad.jsonl"
    bad.write_text('{"text_id": "x", "text": "a dog"}\n{not json\n', encoding="utf-8")
    assert main(["rewrite", "--input", str(bad), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "en_bad.jsonl:2" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()
