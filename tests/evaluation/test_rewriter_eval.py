"""Rewriter measurement: malformed-clause rules, negation inversions, scores against gold, the script."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from calibclip.composite.rewriters import create_rewriter
from calibclip.errors import CorruptData
from calibclip.evaluation.rewriter_eval import (evaluate_rewriter, gold_sets, inversions, malformed_reasons,
                                                read_gold_jsonl, rewriter_scores)
from calibclip.types import Clauses

ROOT = Path(__file__).resolve().parents[2]
HANDWRITTEN = ROOT / "tests" / "composite" / "fixtures" / "rewriter_handwritten.jsonl"
CAPTION = "A young man has on a red cap. He has long black hair. This lady wears green sneakers. She is tall."


@pytest.mark.parametrize("clause, reasons", [
    ("a young man has", ["dangling"]),                       # the examples
    ("the woman dressed", ["dangling"]),
    ("this lady wears green sneakers She", ["pronoun", "cross-sentence"]),
    ("she wearing a red cap", ["pronoun"]),
    ("a young man on a red cap", []),
    ("red", ["empty head"]),
    ("with her", ["dangling", "empty head"]),
    ("a man with a hat on", []),
    ("a young man wearing a red cap. He", ["pronoun", "cross-sentence"]),
    ("a lady with long black hair this lady", ["cross-sentence"]),
    ("一个女人穿着", ["dangling"]),
    ("一个女人坐着", []),
    ("她背着书包", ["pronoun"]),
    ("其他人", []),
    ("风筝的照片", ["photo frame"]),
    ("的", ["dangling", "empty head"]),
])
def test_malformed_rules(clause, reasons):
    assert malformed_reasons(clause, CAPTION if clause.isascii() else "一个女人。她背着书包", "en") == reasons


def test_inversions_count_negations_on_the_wrong_side():
    gold = Clauses("an orange cat on a sofa, no one wearing a hat", "an orange cat on a sofa",
                   ("an orange cat on a sofa",), ("a person wearing a hat",))
    before = Clauses(gold.raw, gold.raw, ("an orange cat on a sofa", "an orange cat wearing a hat"), ())
    after = Clauses(gold.raw, gold.optimized, ("an orange cat on a sofa",), ("a person wearing a hat",))
    assert inversions(before, gold) == 1 and inversions(after, gold) == 0
    # a hat both asserted (red) and negated (blue) is no inversion when both sides keep it
    both = Clauses("a woman in a red hat, no blue hat", "", ("a woman in a red hat",), ("blue hat",))
    assert inversions(both, both) == 0
    flipped = Clauses(both.raw, "", (), ("a woman in a red hat", "blue hat"))
    assert inversions(flipped, both) == 1
    zh = Clauses("街头水果摊，没有人戴口罩", "", ("街头水果摊",), ("戴口罩的人",))
    assert inversions(Clauses(zh.raw, "", ("街头水果摊", "人戴口罩"), ()), zh, "zh") == 1
    assert inversions(zh, zh, "zh") == 0


def test_scores_of_gold_against_itself_and_of_a_broken_rewrite():
    gold = read_gold_jsonl(HANDWRITTEN, "en")
    perfect = rewriter_scores(gold, gold, "en")
    assert perfect["F1"] == perfect["AND-F1"] == perfect["NOT-F1"] == 100.0
    # hand-made gold follows the rules it is measured with
    assert perfect["malformed"] == 0.0 and perfect["inversions"] == 0 and perfect["queries"] == 40
    broken = [Clauses(g.raw, g.raw, (*g.not_clauses, *g.and_clauses[:1]), ()) for g in gold]
    scores = rewriter_scores(broken, gold, "en")
    assert scores["NOT-R"] == 0.0 and scores["inversions"] >= sum(len(g.not_clauses) for g in gold) - 2
    assert 0 < scores["AND-R"] < 40 and scores["AND-P"] > 40


def test_person_scores_have_no_not_column():
    gold = [Clauses("A man in a red coat.", "", ("a man wearing a red coat",), ())]
    scores = evaluate_rewriter(create_rewriter("rule"), gold)
    assert scores["F1"] == 100.0 and scores["NOT-F1"] is None and scores["clauses"] == 1


def test_read_gold_jsonl_filters_and_refuses_bad_lines(tmp_path):
    assert len(read_gold_jsonl(HANDWRITTEN, "zh")) == 40
    assert len(read_gold_jsonl(HANDWRITTEN, "zh", kind="web")) == 15
    assert len(read_gold_jsonl(HANDWRITTEN, "en", split="heldout")) == 20
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"lang": "en", "kind": "web", "split": "dev", "query": "a dog", "and": ["a dog"], "not": []}\n'
                   '{"lang": "en", "query": "a cat"}\n')
    with pytest.raises(CorruptData, match="bad.jsonl:2: not a gold line"):
        read_gold_jsonl(bad, "en")


def test_rule_has_no_inversion_on_a_fresh_thousand_queries():
    sets = gold_sets(tigr_seed=20261, tigr_queries=1000)
    for (_, lang), gold in sets.items():
        scores = evaluate_rewriter(create_rewriter("rule"), gold, lang)
        assert scores["queries"] == 1000 and scores["inversions"] == 0 and scores["malformed"] == 0.0
        assert scores["F1"] > 95


def test_measure_script_writes_the_table(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("measure_rewriter", ROOT / "scripts" / "measure_rewriter.py")
    script = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = script
    spec.loader.exec_module(script)
    out = tmp_path / "rewriter.json"
    assert script.main(["--tigr-queries", "30", "--pedes-ids", "3", "--data-dir", str(tmp_path),
                        "--handwritten", str(HANDWRITTEN), "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["set"], r["lang"]) for r in rows][:3] == [("TIGR seed 4411", "en"), ("TIGR seed 4411", "zh"),
                                                          ("person captions", "en")]
    assert len(rows) == 9 and all(r["inversions"] == 0 for r in rows)
    assert "hand-written held-out" in capsys.readouterr().out
    assert script.main(["--handwritten", str(tmp_path / "missing.jsonl"), "--data-dir", str(tmp_path),
                        "--pedes-ids", "3"]) == 2
    assert "error: no gold file at" in capsys.readouterr().err
    assert script.main(["--rewriter", "gold", "--data-dir", str(tmp_path), "--pedes-ids", "3"]) == 2
    assert "error: the gold rewriter needs TIGR records" in capsys.readouterr().err
