"""The equal-cost measurement's arithmetic: step budgets and paired deltas."""
from __future__ import annotations

from calibclip.training.measure import METRICS, SUBSETS, equal_cost_steps, summarise


def test_equal_cost_steps_match_the_plain_arm_cpu_time():
    assert equal_cost_steps(150, [0.4, 0.4], [0.5, 0.5]) == 120
    assert equal_cost_steps(150, [0.3, 0.5], [0.4, 0.4]) == 150


def _result(rank1_by_seed: dict[int, float]) -> dict[int, dict]:
    return {seed: {subset: {m: r1 if m == "rank1" else 50.0 for m in METRICS} for subset in SUBSETS}
            for seed, r1 in rank1_by_seed.items()}


def test_summarise_pairs_models_by_position_and_eval_seed():
    results = {"p0": _result({1: 60.0, 2: 70.0}), "p1": _result({1: 62.0, 2: 64.0}),
               "c0": _result({1: 61.0, 2: 73.0}), "c1": _result({1: 62.0, 2: 66.0})}
    rows = summarise(results, {"plain": ["p0", "p1"], "calib": ["c0", "c1"]}, [("delta", "plain", "calib")])
    by = {(r["model"], r["subset"]): r for r in rows}
    assert len(rows) == 3 * len(SUBSETS)
    assert by[("plain", "all")]["rank1"] == "64.0 ± 3.7"
    # deltas +1, +3 (seed 0) and 0, +2 (seed 1): mean +1.5, std 1.1
    assert by[("delta", "calibrated_all")]["rank1"] == "+1.5 ± 1.1"
    assert by[("delta", "all")]["mAP"] == "+0.0 ± 0.0"
