"""``calibclip diagnose``: the control is flagged, the unplanted model is not; verdicts cached and warned about."""
import json
import logging

import numpy as np
import pytest

from calibclip.backbones import load_backbone
from calibclip.calibration import presets
from calibclip.calibration.diagnosis_cache import diagnosis_for, save_diagnosis
from calibclip.calibration.retriever import CalibratedRetriever
from calibclip.cli.main import main
from calibclip.config import CalibrationConfig
from calibclip.evaluation.diagnose import diagnose, load_data
from calibclip.evaluation.metrics import spearman

CAPTIONS = ["a woman wearing a red coat", "a man wearing blue jeans and a black bag", "a woman in a green dress",
            "a man wearing a white shirt", "a person with a yellow umbrella"] * 4


@pytest.fixture
def folder(draw_people, tmp_path):
    draw_people(tmp_path / "images", 10)
    (tmp_path / "captions.txt").write_text("\n".join(CAPTIONS), encoding="utf-8")
    return tmp_path


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CALIBCLIP_CACHE", str(tmp_path / "cache"))


def test_spearman_with_ties_matches_the_textbook_values():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, abs=1e-6)  # average ranks
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0


def test_the_planted_register_is_flagged_and_tiny_is_not(folder):
    data = load_data(images=folder / "images", captions=folder / "captions.txt")
    control = diagnose(load_backbone("planted:tiny", "cpu"), data)
    plain = diagnose(load_backbone("tiny", "cpu"), data)
    assert [v.layer for v in control.vision] == [0, 1, 2, 3]  # every block of the 4-block ViT
    assert control.verdicts["cve"]["applies"] is True and control.vision[-1].register_rate == 100.0
    assert control.vision[-1].norm_max > 5 and control.vision[1].norm_max < 3  # planted after block 1
    assert plain.verdicts["cve"]["applies"] is False and plain.vision[-1].register_rate == 0.0
    assert plain.vision[-1].norm_max < 3
    assert control.text.captions == len(CAPTIONS) and control.text.recall_at_1 == {}  # no ids: no retrieval
    json.dumps(control.to_json())


def test_resnet_and_blocks_only_adapters_are_reported_honestly(folder, request):
    request.getfixturevalue("openclip_arches")
    data = load_data(images=folder / "images")
    report = diagnose(load_backbone("openclip:calibtest-rn:none", "cpu"), data)
    assert report.vision is None and report.verdicts["cve"]["applies"] is None
    assert report.verdicts["dcc"]["applies"] is None  # no captions given


def test_cli_prints_verdicts_caches_them_and_retriever_warns(folder, capsys, caplog):
    args = ["diagnose", "--backbone", "tiny:none", "--images", str(folder / "images"),
            "--captions", str(folder / "captions.txt"), "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdicts"]["cve"]["applies"] is False and len(report["vision"]) == 6  # tiny:none: 6 blocks
    backbone = load_backbone("tiny:none", "cpu")
    assert diagnosis_for(backbone)["cve"]["applies"] is False  # cached for the same spec
    presets._WARNED.clear()
    with caplog.at_level(logging.WARNING):
        CalibratedRetriever(backbone, CalibrationConfig())
        CalibratedRetriever(backbone, CalibrationConfig())
    warnings = [r for r in caplog.records if "nothing for it to correct" in r.getMessage()]
    assert [w.getMessage()[:3] for w in warnings] == ["CVE", "DCC"]  # once per backbone and method
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        CalibratedRetriever(backbone, CalibrationConfig(cve_enabled=False, dcc_enabled=False))
    assert not caplog.records


def test_no_warning_for_what_the_backbones_own_preset_enables(caplog):
    tiny = load_backbone("tiny", "cpu")  # carries CVE on (bit-exact there) and a "nothing to correct" diagnosis
    presets._WARNED.clear()
    with caplog.at_level(logging.WARNING):
        CalibratedRetriever(tiny)
    assert not [r for r in caplog.records if "nothing for it to correct" in r.getMessage()]
    with caplog.at_level(logging.WARNING):
        CalibratedRetriever(tiny, CalibrationConfig(cve_enabled=True))  # asked for explicitly: warned
    assert [r.getMessage()[:3] for r in caplog.records if "nothing for it to correct" in r.getMessage()] == ["CVE"]


@pytest.mark.parametrize("args,message", [
    (["--data", "/no/such/dataset"], "not found"),
    (["--images", "/no/such/folder"], "image folder not found"),
])
def test_bad_input_is_one_line_exit_2(args, message, capsys):
    assert main(["diagnose", "--backbone", "tiny:none", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err


def test_a_carried_diagnosis_wins_over_the_cache(tmp_path):
    backbone = load_backbone("tiny:none", "cpu")
    save_diagnosis(backbone, {"cve": {"applies": True}})
    backbone.diagnosis = {"cve": {"applies": False, "reason": "carried"}}
    assert diagnosis_for(backbone)["cve"]["reason"] == "carried"
    assert np.isfinite(spearman([0.1, 0.2], [1.0, 0.5]))
