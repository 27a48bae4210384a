"""``calibclip evaluate | batch-evaluate | query`` and the seed scripts, end to end on synthetic folders."""
import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from calibclip.calibration.seed_config import load_seed_config
from calibclip.cli.main import main
from calibclip.evaluation.metrics import person_retrieval_metrics

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
LAYOUTS = ("cuhkpedes", "icfgpedes", "rstpreid", "annotations")
TINY = ["--backbone", "tiny:none", "--device", "cpu"]
SMALL_MODEL = ("model:\n  embed_dim: 32\n  vision_layers: 2\n  vision_width: 128\n  text_layers: 2\n"
               "  text_width: 64\n  text_heads: 2\n")


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, str]:
    from calibclip.datasets.synthetic_pedes import generate_pedes

    return generate_pedes(tmp_path_factory.mktemp("synth"), seed=0, ids=30, scale="small", layouts=LAYOUTS)["roots"]


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _error_line(capsys, *args) -> str:
    """Run a command that must fail: exit code 2 and exactly one ``error:`` line on stderr."""
    code, out, err = _cli(capsys, *args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_evaluate_every_layout_writes_metrics_and_resolved_config(capsys, roots, layout, tmp_path):
    code, out, _ = _cli(capsys, "evaluate", *TINY, "--data_root", roots[layout], "--output_dir", tmp_path, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["layout"] == layout and report["split"] == "test"
    assert report == json.loads((tmp_path / "metrics.json").read_text())
    assert set(report["baseline"]) >= {"rank1", "rank5", "rank10", "mAP", "mINP"}
    resolved = load_seed_config(tmp_path / "resolved.yaml")
    assert resolved.backbone == "tiny:none" and resolved.dataset.layout == layout


def test_script_evaluate_prints_side_by_side_and_dumps_scores(roots, tmp_path):
    dump = tmp_path / "dump"
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "evaluate.py"), "--config",
                             CONFIGS / "cuhkpedes.yaml", *TINY, "--data_root", roots["cuhkpedes"],
                             "--output_dir", tmp_path / "out", "--dump", dump],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    header, _, baseline, calibrated, delta = result.stdout.splitlines()[1:6]
    assert header.split() == ["method", "rank1", "rank5", "rank10", "mAP", "mINP"]
    assert baseline.split()[1] == f"{report['baseline']['rank1']:.2f}"
    assert calibrated.split()[5] == f"{report['calibrated']['mINP']:.2f}" and delta.startswith("Δ calibrated")
    labels = json.loads((dump / "labels.json").read_text())
    for method in ("baseline", "calibrated"):
        sims = np.load(dump / f"sims_{method}.npy")
        assert person_retrieval_metrics(sims, labels["query_pids"], labels["gallery_pids"]) == report[method]


def test_evaluate_with_a_small_checkpoint(capsys, roots, tmp_path):
    from calibclip import build_calibclip

    config = tmp_path / "small.yaml"
    config.write_text(f"_base_: {CONFIGS / 'cuhkpedes.yaml'}\n{SMALL_MODEL}")
    checkpoint = build_calibclip(config=load_seed_config(config)).save(tmp_path / "small.pt")
    code, out, _ = _cli(capsys, "evaluate", "--config", config, "--checkpoint", checkpoint,
                        "--data_root", roots["cuhkpedes"], "--device", "cpu", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["checkpoint"] == str(checkpoint) and report["backbone"] == "calibclip"
    assert report["num_queries"] == 2 * report["num_images"]


def test_batch_evaluate_one_table_over_datasets(capsys, roots, tmp_path):
    code, out, _ = _cli(capsys, "batch-evaluate", *TINY, "--datasets", "cuhkpedes", "icfgpedes", "rstp",
                        "--data_roots", roots["cuhkpedes"], roots["icfgpedes"], roots["rstpreid"],
                        "--output_dir", tmp_path)
    assert code == 0
    rows = [line.split() for line in out.splitlines()[3:]]
    assert [(r[0], r[1]) for r in rows[:2]] == [("cuhkpedes", "baseline"), ("cuhkpedes", "calibrated")]
    assert [r[0] for r in rows] == ["cuhkpedes"] * 3 + ["icfgpedes"] * 3 + ["rstp"] * 3
    summary = json.loads((tmp_path / "summary.json").read_text())["datasets"]
    assert [d["layout"] for d in summary] == ["cuhkpedes", "icfgpedes", "rstpreid"]
    single = json.loads((tmp_path / "rstp" / "metrics.json").read_text())
    assert single == summary[2]
    markdown = (tmp_path / "summary.md").read_text().splitlines()
    assert markdown[0].startswith("| dataset | method | rank1") and len(markdown) == 2 + 9


def test_seed_layout_evaluates_with_the_seed_command_and_config(capsys, roots, tmp_path):
    """The seed README's data layout (imgs/ + annotations/) with its own command and --config."""
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "evaluate.py"), "--config",
                             CONFIGS / "cuhkpedes.yaml", *TINY, "--data_root", roots["annotations"],
                             "--output_dir", tmp_path / "out"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert report["layout"] == "annotations" and report["dataset"] == "cuhkpedes"
    assert report["num_queries"] > 0 and 0 <= report["baseline"]["rank1"] <= 100
    assert load_seed_config(tmp_path / "out" / "resolved.yaml").dataset.layout == "annotations"


def test_batch_evaluate_detects_each_layout_or_takes_the_forced_ones(capsys, roots, tmp_path):
    folders = ["--data_roots", roots["annotations"], roots["cuhkpedes"]]
    code, out, _ = _cli(capsys, "batch-evaluate", *TINY, "--datasets", "cuhkpedes", "rstp", *folders, "--json")
    assert code == 0
    assert [d["layout"] for d in json.loads(out)["datasets"]] == ["annotations", "cuhkpedes"]
    code, out, _ = _cli(capsys, "batch-evaluate", *TINY, "--datasets", "cuhkpedes", "rstp", *folders,
                        "--layout", "annotations", "cuhkpedes", "--json")
    assert code == 0 and [d["layout"] for d in json.loads(out)["datasets"]] == ["annotations", "cuhkpedes"]
    line = _error_line(capsys, "batch-evaluate", *TINY, "--datasets", "cuhkpedes", "rstp", *folders,
                           "--layout", "rstpreid")
    assert "data_captions.json" in line


def test_query_ranks_a_folder_with_baseline_ranks_and_overlays(capsys, roots, tmp_path):
    from calibclip.backbones import load_backbone
    from calibclip.index.encode import encode_images

    folder = tmp_path / "images"
    for i, source in enumerate(sorted((Path(roots["cuhkpedes"]) / "imgs").rglob("*.jpg"))[:24]):
        (folder / f"p{i // 8}").mkdir(parents=True, exist_ok=True)  # nested: the folder is searched recursively
        shutil.copy(source, folder / f"p{i // 8}" / f"{i:02d}.jpg")
    query = "a woman in a red coat with a black bag"
    code, out, _ = _cli(capsys, "query", *TINY, "--image_dir", folder, "--query", query, "-k", 3,
                        "--explain", tmp_path / "why", "--json")
    assert code == 0
    payload = json.loads(out)
    rows = payload["results"]
    assert [r["rank"] for r in rows] == [1, 2, 3] and payload["skipped_images"] == 0
    assert rows[0]["score"] >= rows[1]["score"] >= rows[2]["score"]
    tiny = load_backbone("tiny:none", "cpu")
    paths = sorted(p for p in folder.rglob("*.jpg"))
    images, _ = encode_images(tiny, paths)
    plain = (tiny.embed_texts([query]) @ images.half().float().T)[0]  # query searches an index: fp16 vectors
    order = torch.argsort(-plain, stable=True).tolist()
    for row in rows:
        assert row["baseline_rank"] == order.index(paths.index(Path(row["image"]))) + 1
        assert row["baseline_score"] == pytest.approx(float(plain[paths.index(Path(row["image"]))]), abs=1e-5)
        assert Path(row["overlay"]).is_file()


@pytest.mark.parametrize("script, command", [("batch_evaluate.py", "batch-evaluate"), ("demo.py", "query"),
                                             ("evaluate.py", "evaluate")])
def test_seed_scripts_are_the_cli_commands(capsys, monkeypatch, script, command):
    monkeypatch.setattr(sys, "argv", [script, "--help"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(REPO / "scripts" / script), run_name="__main__")
    assert exc.value.code == 0
    assert f"usage: calibclip {command}" in capsys.readouterr().out


def test_calibclip_evaluate_wrong_forced_layout_is_one_line_exit_2(roots):
    result = subprocess.run([sys.executable, "-m", "calibclip.cli.main", "evaluate", "--config",
                             CONFIGS / "icfgpedes.yaml", *TINY, "--data_root", roots["cuhkpedes"],
                             "--layout", "icfgpedes"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: annotation file not found"), result.stderr
    assert "ICFG-PEDES.json" in lines[0]


def test_missing_images_are_one_line(capsys, roots, tmp_path):
    root = tmp_path / "CUHK-PEDES"
    shutil.copytree(roots["cuhkpedes"], root)
    from calibclip.datasets.pedes import load_pedes

    split = load_pedes(root)
    split.image_paths[3].unlink()
    line = _error_line(capsys, "evaluate", *TINY, "--data_root", root)
    assert f"1 of {len(split.image_paths)} images missing, first: {split.image_paths[3]}" in line


def test_empty_split_is_one_line(capsys, tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "test.json").write_text("[]")
    line = _error_line(capsys, "evaluate", *TINY, "--data_root", tmp_path)
    assert "has no images" in line


def test_checkpoint_of_the_wrong_shape_is_one_line(capsys, roots, tmp_path):
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    vision = CLIPVisionCfg(layers=2, width=128, head_width=64, patch_size=16, image_size=(384, 128))
    wide = CLIP(48, vision, CLIPTextCfg(width=64, heads=2, layers=2), quick_gelu=True)
    torch.save(wide.state_dict(), tmp_path / "wide.pth")
    config = tmp_path / "small.yaml"
    config.write_text(f"_base_: {CONFIGS / 'base.yaml'}\n{SMALL_MODEL}")
    line = _error_line(capsys, "evaluate", "--config", config, "--checkpoint", tmp_path / "wide.pth",
                       "--data_root", roots["cuhkpedes"], "--device", "cpu")
    assert "text_projection has shape (64, 48), the model expects (64, 32)" in line


@pytest.mark.parametrize("args, message", [
    (["evaluate", "--device", "cpu"], "no checkpoint for the calibclip model"),
    (["evaluate", *TINY, "--checkpoint", "w.pth"], "--checkpoint applies to the calibclip model"),
    (["batch-evaluate", *TINY, "--datasets", "cuhkpedes", "rstp", "--data_roots", "{root}"],
     "2 --datasets but 1 --data_roots"),
    (["query", *TINY, "--image_dir", "{empty}", "--query", "a man"], "no images in"),
    (["query", *TINY, "--image_dir", "{root}", "--query", "a man", "-k", "0"], "--top_k must be at least 1"),
    (["query", *TINY, "--image_dir", "{root}", "--query", "   "], "query 0 is empty"),
])
def test_bad_flags_are_one_line(capsys, roots, tmp_path, args, message):
    args = [a.format(root=roots["cuhkpedes"], empty=tmp_path) for a in args]
    if args[0] == "evaluate":
        args += ["--data_root", roots["cuhkpedes"]]
    assert message in _error_line(capsys, *args)
