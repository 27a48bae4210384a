"""The composite stage profile: every stage timed, the composite query's texts counted."""
from calibclip.bench.stages import composite_stages


def test_composite_stages_time_every_stage(micro_backbone):
    out = composite_stages(micro_backbone, 500, repeats=1)
    assert out["gallery"] == 500 and out["texts"] == 6  # raw, optimized, 3 AND, 1 NOT
    stages = ("encode_query", "encode_all_texts", "scan_one_row", "scan_all_rows", "combine_and_explain",
              "plain_total", "composite_total")
    assert all(out[f"{name}_ms"] > 0 for name in stages)
    assert out["ratio"] == out["composite_total_ms"] / out["plain_total_ms"]
