"""The calibration study: rows that change one thing, paired deltas, a preset chosen by a fixed rule."""
import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from calibclip.backbones import load_backbone
from calibclip.calibration.presets import resolve_calibration
from calibclip.evaluation.calibration_study import VARIANTS, choose_preset, summarise, variant_configs

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ablate_calibration.py"


def test_every_variant_changes_one_thing_against_the_public_code_values():
    configs = variant_configs(load_backbone("tiny:none", "cpu"))
    public = resolve_calibration()
    assert list(configs) == list(VARIANTS) and configs["baseline"] is None
    assert configs["public code (CVE register + DCC general)"] == public
    for name, cfg in configs.items():
        if cfg is not None:
            changed = {k for k, v in dataclasses.asdict(cfg).items() if v != getattr(public, k)}
            assert len(changed) <= 2 and cfg.first_stage == "original"  # one method off + one knob at most


def test_deltas_are_paired_per_seed():
    base = [{"rank1": 50.0, "rank5": 0, "rank10": 0, "mAP": 40.0, "mINP": 0},
            {"rank1": 60.0, "rank5": 0, "rank10": 0, "mAP": 50.0, "mINP": 0}]
    runs = [{**b, "rank1": b["rank1"] + 1.0} for b in base]
    row = summarise("x", runs, base)
    assert row["Δrank1"] == "+1.00 ± 0.00" and row["rank1"] == "56.00 ± 5.00"  # the spread of sets, not of Δ


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    from calibclip.datasets.generated import ensure_pedes
    from calibclip.datasets.pedes import load_pedes

    root = ensure_pedes(tmp_path_factory.mktemp("study"), seed=31, ids=27)
    return root, load_pedes(root, "test")


def test_preset_rule_prefers_plain_clip_on_ties(tiny_set):
    backbone = load_backbone("tiny:none", "cpu")
    preset, rows = choose_preset(backbone, tiny_set[1])
    assert len(rows) == 1 + 3 * 3  # plain + (CVE, DCC, both) × 3 λ
    best = max(r["rank1"] for r in rows)
    if rows[0]["rank1"] == best:
        assert preset == {"cve_enabled": False, "dcc_enabled": False}


def test_script_end_to_end_writes_a_preset_that_the_checkpoint_carries(tiny_set, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("ablate_calibration", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    root = tiny_set[0].parent.parent
    out, ckpt = tmp_path / "study.json", tmp_path / "tiny-preset.pt"
    assert module.main(["--dev-seed", "31", "--seeds", "31", "--ids", "27", "--data-dir", str(root),
                        "--write-preset", str(ckpt), "--device", "cpu", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [r["variant"] for r in result["test"]][:2] == ["baseline", "public code (CVE register + DCC general)"]
    assert result["test"][-1]["variant"] == "backbone preset"
    carried = load_backbone(f"tiny:{ckpt}", "cpu")
    assert carried.calibration_preset == result["preset"] and carried.diagnosis["cve"]["applies"] is False
    assert carried.word_df and "control: random patch suppression" in capsys.readouterr().out
