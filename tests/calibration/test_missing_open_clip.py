"""Without open_clip, the seed API, the seed scripts and the openclip backbone say what to install.

open_clip is a core dependency (the seed model is CLIP ViT-B/16), so this only happens in a broken
or hand-made environment; the answer is still one line and exit code 2, never a bare
``ModuleNotFoundError`` traceback, and Python shows the same text as the command line.
"""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from calibclip.errors import SpecError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def without_open_clip(monkeypatch):
    for name in ("open_clip", "open_clip.model", "open_clip.tokenizer"):
        monkeypatch.setitem(sys.modules, name, None)  # ``import open_clip`` now raises ImportError


def test_build_calibclip_names_the_package(without_open_clip):
    from calibclip import build_calibclip

    with pytest.raises(SpecError) as err:
        build_calibclip(pretrained=None, embed_dim=512, vision_layers=12, text_layers=12)
    message = str(err.value)
    assert "needs open_clip" in message and "pip install 'open_clip_torch" in message and "\n" not in message


def test_openclip_backbone_names_the_package(without_open_clip):
    from calibclip.backbones import load_backbone

    with pytest.raises(SpecError, match=r"the 'openclip' backbone needs open_clip, .*pip install"):
        load_backbone("openclip:ViT-B-16:none", device="cpu")


def test_seed_script_prints_the_same_line_and_exits_2(without_open_clip, tmp_path, monkeypatch, capsys):
    from calibclip import build_calibclip
    from calibclip.datasets import generate_pedes

    root = generate_pedes(tmp_path / "data", seed=5, ids=9)["roots"]["cuhkpedes"]
    with pytest.raises(SpecError) as err:
        build_calibclip()
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["scripts/evaluate.py", "--config", str(REPO / "configs" / "cuhkpedes.yaml"),
                                      "--checkpoint", "none", "--data_root", root, "--device", "cpu"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(REPO / "scripts" / "evaluate.py"), run_name="__main__")
    out, stderr = capsys.readouterr()
    assert exit_.value.code == 2 and out == ""
    assert stderr == f"error: {err.value}\n"
