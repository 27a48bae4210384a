"""``calibclip heldout``: the shipped model on fresh synthetic sets, and the unseen-combination subsets."""
from __future__ import annotations

import json

from calibclip.backbones import load_backbone
from calibclip.cli.main import main
from calibclip.datasets.synthetic_tigr import generate_tigr
from calibclip.training.heldout import evaluate_heldout


def test_shipped_tiny_reaches_the_issue_target_on_a_fresh_person_set(tmp_path, capsys):
    # the README's command: a person set from a seed no training run uses (generated here, ~20 s)
    code = main(["heldout", "--skip", "tigr", "--pedes-seed", "7001", "--data-dir", str(tmp_path), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)["pedes"]
    assert report["all"]["num_queries"] == 1218
    assert report["all"]["rank1"] >= 60.0
    unseen = report["unseen_combinations"]
    assert 0 < unseen["num_queries"] < report["all"]["num_queries"]
    assert unseen["rank1"] >= 50.0


def test_with_nothing_seen_every_scene_query_is_unseen(tmp_path):
    root = tmp_path / "tigr"
    generate_tigr(root, seed=11, scale="small", langs=("en",))
    report = evaluate_heldout(load_backbone("tiny", "cpu"), tigr_root=root, langs=("en",), seen={"tigr": []})
    assert report["tigr_en"]["unseen_combinations"] == report["tigr_en"]["all"]
    assert 0.0 <= report["tigr_en"]["all"]["NIPR@10"] <= 100.0


def test_heldout_with_a_missing_checkpoint_is_one_line(tmp_path, capsys):
    code = main(["heldout", "--backbone", f"tiny:{tmp_path / 'nope.pt'}", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "nope.pt" in err
    assert not any(tmp_path.iterdir())                 # nothing generated for a model that cannot load


def test_heldout_with_an_unknown_language_is_one_line(tmp_path, capsys):
    code = main(["heldout", "--skip", "pedes", "--lang", "en,fr", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "fr" in err


def test_fresh_person_set_with_calibration_reports_both(pedes_root):
    from calibclip.config import CalibrationConfig
    from calibclip.training.heldout import evaluate_fresh_pedes

    backbone = load_backbone("tiny", "cpu")
    report = evaluate_fresh_pedes(backbone, pedes_root, seen=[], calibration=CalibrationConfig())
    assert set(report) == {"all", "unseen_combinations", "calibrated_all", "calibrated_unseen_combinations"}
    assert report["unseen_combinations"] == report["all"]          # nothing seen: every query is unseen
    off = evaluate_fresh_pedes(backbone, pedes_root, calibration=CalibrationConfig(cve_enabled=False,
                                                                                      dcc_enabled=False))
    assert off["calibrated_all"] == off["all"] == report["all"]   # calibration off scores as plain retrieval
