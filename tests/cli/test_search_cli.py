"""``calibclip index``, ``search``, ``serve`` and the ``query`` alias: tables, JSON, and one-line errors."""
import json
import re

import pytest

from calibclip.cli.main import main

QUERY = "a man in a red coat with a black bag, no hat"


def _run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def db(tmp_path_factory, micro_spec, write_images):
    root = tmp_path_factory.mktemp("cli")
    write_images(root / "photos", 12, seed=31)
    assert main(["index", str(root / "photos"), "--db", str(root / "photos.db"), "--backbone", micro_spec,
                 "--workers", "0", "--json"]) == 0
    return root / "photos.db"


def test_index_prints_a_summary_table(capsys, tmp_path, micro_spec, write_images):
    write_images(tmp_path / "photos", 5, seed=32)
    (tmp_path / "photos" / "broken.png").write_bytes(b"nope")
    code, out, _ = _run(capsys, "index", tmp_path / "photos", "--db", tmp_path / "p.db", "--backbone", micro_spec,
                        "--workers", "0", "--index", "ivfpq", "--check")
    assert code == 0
    assert re.search(r"^added +5$", out, re.M) and re.search(r"^skipped +1$", out, re.M)
    assert re.search(r"^in index +5$", out, re.M) and "ivfpq search" in out
    assert re.search(r"^recall@10: 1\.000 \(ivfpq\)$", out, re.M)
    assert re.search(rf"^{re.escape(str(tmp_path / 'photos' / 'broken.png'))} +not an image", out, re.M)
    assert re.search(r"took [\d.]+ s \([\d.]+ img/s\)", out)


def test_index_with_another_backbone_is_one_line(capsys, db):
    code, out, err = _run(capsys, "index", db.parent / "photos", "--db", db, "--backbone", "tiny:none")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "was made by backbone 'tiny:" in err and "not 'tiny:none'" in err


def test_search_table_plain_calibrated_composite(capsys, db):
    code, out, _ = _run(capsys, "search", QUERY, "--db", db, "-k", 3)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith(f"baseline search for {QUERY!r} over 12 images")
    assert lines[1].split() == ["rank", "score", "baseline_rank", "match", "path"] and len(lines) == 3 + 3
    code, out, _ = _run(capsys, "search", QUERY, "--db", db, "-k", 3, "--calibrate")
    assert code == 0 and "DCC masked: " in out
    code, out, _ = _run(capsys, "search", QUERY, "--db", db, "-k", 2, "--composite")
    header = out.splitlines()[2]
    assert code == 0 and "clauses: AND ['a man in a red coat', 'a man with a black bag'] NOT ['hat']" in out
    assert "+a man in a red coat" in header and "-hat" in header


def test_search_json_has_the_explanations(capsys, db):
    code, out, _ = _run(capsys, "search", QUERY, "--db", db, "-k", 2, "--calibrate", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["method"] == "calibrated" and payload["masked_words"]
    assert all(hit["suppressed"] and hit["match"] is not None for hit in payload["hits"])
    code, out, _ = _run(capsys, "search", QUERY, "--db", db, "-k", 2, "--composite", "--calibrate", "--json")
    hits = json.loads(out)["hits"]
    assert set(hits[0]["clauses"]) == {"and", "not"} and "hat" in hits[0]["clauses"]["not"]


def test_search_by_example_image_and_min_score(capsys, db):
    first = sorted((db.parent / "photos").glob("*.png"))[4]
    code, out, _ = _run(capsys, "search", "--image", first, "--db", db, "-k", 1, "--json")
    assert code == 0 and json.loads(out)["hits"][0]["path"] == str(first)
    code, out, _ = _run(capsys, "search", QUERY, "--db", db, "--min-score", 99)
    assert code == 0 and out.splitlines()[-1] == "nothing matches (no result has match >= 99.0)"


@pytest.mark.parametrize("args, message", [
    (["search", QUERY, "--image", "x.png"], "give either a text query or --image PATH"),
    (["search"], "give either a text query or --image PATH"),
    (["search", "   "], "empty query"),
    (["search", QUERY, "-k", "0"], "k must be a whole number of at least 1"),
    (["search", "--image", "/nonexistent.png"], "image not found: /nonexistent.png"),
    (["search", QUERY, "--composite", "--rewriter", "gold"], "the gold rewriter needs TIGR records"),
    (["search", "--image", "{photo}", "--composite"], "an example image is searched alone"),
    (["serve", "--db", "{missing}"], "index database not found"),
    (["search", QUERY, "--db", "{missing}"], "index database not found"),
    (["index", "{missing_dir}", "--db", "{db}"], "image folder not found"),
    (["index", "{photos}", "--db", "{db}", "--batch-size", "0"], "--batch-size must be at least 1"),
])
def test_bad_input_is_one_line_exit_2(capsys, db, args, message):
    fill = {"photo": sorted((db.parent / "photos").glob("*.png"))[0], "missing": db.parent / "nope.db",
            "missing_dir": db.parent / "nope", "db": db, "photos": db.parent / "photos"}
    args = [a.format(**fill) for a in args]
    if "--db" not in args:
        args += ["--db", str(db)]
    code, out, err = _run(capsys, *args)
    assert code == 2 and out == "", out
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and message in err, err


def test_query_over_unreadable_images_names_them_and_exits_2(capsys, tmp_path, micro_spec):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.jpg", "b.png"):
        (folder / name).write_bytes(b"corrupt")
    args = ["query", "--backbone", micro_spec, "--device", "cpu", "--image_dir", folder, "--query", "a man"]
    code, out, err = _run(capsys, *args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert f"none of the 2 image file(s) in {folder} could be read; first: {folder / 'a.jpg'}" in err
    code, out, err = _run(capsys, *args, "--json")
    assert code == 2 and set(json.loads(out)["skipped"]) == {str(folder / "a.jpg"), str(folder / "b.png")}
    code, out, err = _run(capsys, "-v", *args)
    assert code == 2 and str(folder / "b.png") in out


def test_query_counts_only_readable_images(capsys, tmp_path, micro_spec, write_images):
    folder = tmp_path / "photos"
    write_images(folder, 4, seed=33)
    (folder / "bad.jpg").write_bytes(b"corrupt")
    args = ["query", "--backbone", micro_spec, "--device", "cpu", "--image_dir", folder, "--query", "a man", "-k", 2]
    code, out, _ = _run(capsys, *args)
    assert code == 0 and out.startswith("'a man' over 4 images")
    assert "note: 1 unreadable image(s) skipped (-v lists them)" in out
    code, out, _ = _run(capsys, "-v", *args)
    assert str(folder / "bad.jpg") in out
    payload = json.loads(_run(capsys, *args, "--json")[1])
    assert payload["searched_images"] == 4 and payload["skipped_images"] == 1 and len(payload["results"]) == 2
