import importlib.util
import json
import sys
from pathlib import Path

import pytest

from calibclip.config import CalibrationConfig

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ablate_calibration.py"


@pytest.fixture(scope="module")
def ablate():
    spec = importlib.util.spec_from_file_location("ablate_calibration", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_grid_dedupes_settings_that_cannot_differ(ablate):
    args = ablate.parse_args(["--decay", "0.5", "--dominant-ratio", "0.1", "--contrast-alpha", "0",
                              "--mask-ratio", "0.2", "--lam", "0.3", "0.7"])
    assert args.decay == [0.1, 0.5]  # the paper's default is always measured
    configs = ablate.grid(args)
    # decay {0.1, 0.5} × 2 first stages × 2 λ = 8 with DCC on; with DCC off λ matters only for
    # first_stage original: 2 × 2 + 2 = 6; DCC alone: 2 λ
    assert len(configs) == 16
    assert sum(not c.cve_enabled for c in configs) == 2
    dcc_only = next(c for c in configs if not c.cve_enabled)
    assert dcc_only.first_stage == "original" and dcc_only.decay == CalibrationConfig().decay


def test_best_prefers_rank1_then_map(ablate):
    rows = [{"rank1": 50.0, "mAP": 40.0, "id": 0}, {"rank1": 51.0, "mAP": 30.0, "id": 1},
            {"rank1": 51.0, "mAP": 35.0, "id": 2}]
    assert ablate.best(rows)["id"] == 2


@pytest.mark.slow
def test_end_to_end_on_a_small_synthetic_set(ablate, tmp_path, capsys):
    out = tmp_path / "ablation.json"
    assert ablate.main(["--backbone", "tiny:none", "--seeds", "5", "--scale", "small", "--data-dir", str(tmp_path),
                        "--decay", "0.1", "--dominant-ratio", "0.1", "--contrast-alpha", "0", "--mask-ratio", "0.2",
                        "--lam", "0.5", "--first-stage", "original", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [row["method"] for row in result["test"]] == ["baseline", "+CVE", "+DCC", "+CVE+DCC"] * 2
    assert len(result["val_sweep"]) == 1 + 3  # baseline, +CVE, +DCC, +both
    assert "+CVE+DCC" in capsys.readouterr().out
