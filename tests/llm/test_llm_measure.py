"""scripts/measure_llm_rewriter.py's logic: file scoring with fallback flags, mean ± sd and paired deltas."""
import json

from calibclip.datasets.tigr import read_queries
from calibclip.llm.measure import DELTAS, NAMES, SHOWN, scored_file, summary_rows


def test_scored_file_reads_the_fallback_flags_of_the_rewritten_file(records_dir, tmp_path):
    gold_path = records_dir / "en_train.jsonl"
    gold = [q.clauses for q in read_queries(gold_path)]
    rows = [json.loads(line) for line in gold_path.read_text(encoding="utf-8").splitlines()]
    rows[1]["fallback"] = True                                       # the gold line, but written by rule
    rows[2]["text"] = rows[3]["text"].replace(gold[3].raw, gold[2].raw)  # another query's analysis
    out = tmp_path / "en_lm.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    got = scored_file(out, gold, "en")
    assert got["parsed"] == 75.0 and got["exact"] == 75.0           # the file's lines, flagged or not
    assert got["F1"] < 100.0 and got["F1 (LM only)"] < got["F1"]     # a flagged line counts as empty for the LM
    assert scored_file(gold_path, gold, "en")["F1 (LM only)"] == 100.0


def test_summary_rows_are_mean_sd_over_seeds_and_paired_deltas():
    def run(seed, f1, grp):
        return {"seed": seed, **{k: 50.0 for k in SHOWN}, "F1": f1, "F1 (LM only)": f1, "GRP@10": grp}

    values = {"rule": ([90, 94], [20, 30]), "base": ([90, 94], [20, 30]), "lora": ([10, 20], [5, 9]),
              "gold": ([100, 100], [26, 31])}
    report = {"results": {"en": {n: [run(s, f, g) for s, f, g in zip((1, 2), *values[n])] for n in NAMES}}}
    rows, deltas = summary_rows(report)["en"]
    assert [r["rewriter"] for r in rows] == list(NAMES.values())
    assert rows[2]["F1"] == "15.0 ± 7.1" and rows[0]["GRP@10"] == "25.0 ± 7.1" and rows[0]["exact"] == "50.0 ± 0.0"
    assert [d["paired Δ"] for d in deltas] == [f"{NAMES[a]} − {NAMES[b]}" for a, b in DELTAS]
    assert deltas[0]["F1"] == "-77.0 ± 4.2" and deltas[0]["GRP@10"] == "-18.0 ± 4.2"  # per seed: -80, -74; -15, -21
    assert deltas[2]["GRP@10"] == "21.5 ± 0.7"                                     # 21, 22
