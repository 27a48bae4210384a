import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from calibclip.cli.csdclip import main, model_spec
from calibclip.datasets.synthetic_tigr import generate_tigr
from calibclip.evaluation.metrics import graded_metrics

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--model_name", "tiny", "--weights", "none", "--gpu", "-1", "--gallery_limit", "40", "--workers", "1"]


@pytest.fixture(scope="module")
def tigr(tmp_path_factory):
    """A small synthetic TIGR set; ``en_six.jsonl`` / ``zh_six.jsonl`` keep its first 6 queries (fast runs)."""
    out = tmp_path_factory.mktemp("tigr")
    generate_tigr(out, seed=7, scale="small", langs=("en", "zh"))
    for lang in ("en", "zh"):
        lines = next(out.glob(f"{lang}_*.jsonl")).read_text(encoding="utf-8").splitlines()[:6]
        (out / "six").mkdir(exist_ok=True)
        (out / "six" / f"{lang}_six.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "six" / "lmdb").symlink_to(out / "lmdb")
    return out


@pytest.mark.parametrize("name, scale, weights, spec", [
    ("clip", "ViT-B/16", None, "openclip:ViT-B-16:openai"),
    ("clip", "RN50", "/w/rn50.pt", "openclip:RN50:/w/rn50.pt"),
    ("clip", "ViT-L/14", None, "openclip:ViT-L-14:openai"),
    ("cnclip", "ViT-B/16", None, "cnclip:ViT-B-16"),
    ("longclip", "ViT-B/16", "/w/longclip-B.pt", "longclip:ViT-B-16:/w/longclip-B.pt"),
    ("fgclip", "ViT-B/16", None, "fgclip:qihoo360/fg-clip-base"),
    ("fgclip", "ViT-L/14", "/w/fg", "fgclip:/w/fg"),
    ("tiny", "ViT-B/16", None, "tiny"),
    ("tiny", "ViT-B/16", "none", "tiny:none"),
])
def test_model_spec_mapping(name, scale, weights, spec):
    assert model_spec(name, scale, weights) == spec


def test_csdclip_end_to_end_json_output_and_dump(tigr, tmp_path, capsys):
    out, dump = tmp_path / "rows.jsonl", tmp_path / "dump"
    code = main(["--dataset_path", str(tigr / "six" / "en_six.jsonl"), *TINY, "--num_res", "4", "--json",
                 "--output", str(out),
                 "--dump", str(dump)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"info", "baseline", "composite"}
    assert report["info"]["queries"] == 6 and report["info"]["rewriter"] == "gold"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 and all(len(r["results"]) == 4 for r in rows)
    assert rows[0]["and"] and {h["grade"] for r in rows for h in r["results"]} <= {"HR", "MR", "IR"}
    sims = np.load(dump / "sims_composite.npy")
    order = json.loads((dump / "order.json").read_text())
    qrels = json.loads((dump / "qrels.json").read_text())
    assert sims.shape == (6, len(order["gallery"])) == np.load(dump / "sims_baseline.npy").shape
    column = {image_id: i for i, image_id in enumerate(order["gallery"])}
    gains = [{column[i]: g for i, g in qrels[t].items() if i in column} for t in order["queries"]]
    recomputed = graded_metrics(sims, gains, (1, 4, 5, 10))
    assert recomputed["NIPR@10"] == pytest.approx(report["composite"]["NIPR@10"])
    top = np.argsort(-sims[0], kind="stable")[:4]
    assert [h["image_id"] for h in rows[0]["results"]] == [order["gallery"][i] for i in top]


def test_csdclip_table_with_rule_rewriter_chinese_and_calibration(tigr, capsys):
    code = main(["--dataset_path", str(tigr / "six" / "zh_six.jsonl"), *TINY, "--rewriter", "rule", "--calibrate"])
    assert code == 0
    out = capsys.readouterr().out
    assert "6 queries (zh)" in out and "rewriter rule" in out
    assert out.splitlines()[0].startswith("tiny:none | ")  # the backbone that ran, not "tiny ViT-B/16"
    header = next(line for line in out.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "baseline", "calibrated", "composite", "composite+calibrated", "Δ"]
    assert any(line.startswith("NIPR@10 ") for line in out.splitlines())


def test_dump_with_calibrate_writes_every_documented_matrix(tigr, tmp_path, capsys):
    plain, calibrated = tmp_path / "plain", tmp_path / "calibrated"
    acting = tmp_path / "acting.yaml"  # tiny's own preset finds nothing to suppress: force a selection that acts
    acting.write_text("calibration:\n  dominant_select: attention\n", encoding="utf-8")
    data = ["--dataset_path", str(tigr / "six" / "en_six.jsonl"), *TINY, "--rewriter", "rule", "--json",
            "--config", str(acting)]
    assert main([*data, "--dump", str(plain)]) == 0
    assert main([*data, "--calibrate", "--dump", str(calibrated)]) == 0
    names = {p.name for p in calibrated.glob("sims_*.npy")}
    assert names == {"sims_baseline.npy", "sims_calibrated.npy", "sims_composite.npy",
                     "sims_composite_calibrated.npy"}
    # CsdCLIP alone is the same whether or not CalibCLIP is also computed
    np.testing.assert_allclose(np.load(calibrated / "sims_composite.npy"), np.load(plain / "sims_composite.npy"),
                               rtol=0, atol=1e-5)
    assert not np.allclose(np.load(calibrated / "sims_composite.npy"),
                           np.load(calibrated / "sims_composite_calibrated.npy"))


def _cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "model" / "model.py"), *args],
                          capture_output=True, text=True, timeout=300)


def _one_line_error(result, needle):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_corrupt_lmdb_is_one_line_exit_2(tigr, tmp_path, capsys):
    import shutil

    shutil.copy(tigr / "six" / "en_six.jsonl", tmp_path)
    shutil.copytree(tigr / "lmdb" / "imgs", tmp_path / "lmdb" / "imgs")
    (tmp_path / "lmdb" / "imgs" / "data.mdb").write_bytes(b"\0garbage" * 100)
    assert main(["--dataset_path", str(tmp_path), *TINY]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "lmdb" in err[0].lower(), err


@pytest.mark.parametrize("extra, needle", [
    (["--num_res", "0"], "--num_res must be at least 1"),
    (["--rewriter", "hf"], "local model folder"),
    (["--model_name", "cnclip", "--gpu", "-1"], "cnclip"),
])
def test_bad_flags_are_one_line_exit_2(tigr, extra, needle, capsys):
    args = ["--dataset_path", str(tigr), *TINY, *extra]
    if "--model_name" in extra:
        args = ["--dataset_path", str(tigr), "--gallery_limit", "60", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0]


def test_missing_dataset_is_one_line_exit_2(tmp_path):
    _one_line_error(_cli("--dataset_path", str(tmp_path / "nope"), *TINY), "dataset not found")


def test_config_file_with_unknown_knob_is_one_line_exit_2(tigr, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("composite:\n  and_mode: mean\n  w_nott: 2\n", encoding="utf-8")
    assert main(["--dataset_path", str(tigr), *TINY, "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown key(s) ['w_nott']" in err[0]
