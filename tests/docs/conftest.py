"""A workspace for the documentation's examples: generated data where the pages say the data is.

Each page's blocks run in a fresh directory holding
``data/CUHK-PEDES``, ``data/ICFG-PEDES``, ``data/RSTPReid``, ``data/PEDES`` (synthetic pedestrians,
45 identities, seed 16, all four layouts), ``data/tigr100k`` (synthetic TIGR, ``scale="small"``,
seed 16) and ``photos/`` (eight pedestrian images, ``p01.jpg`` … ``p08.jpg``), with ``calibclip``, ``csdclip`` and ``python``
on ``PATH`` running this checkout's code, the checkout's ``configs/``, ``scripts/`` and ``model/``, and ``CALIBCLIP_CACHE`` inside the workspace.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SEED = 16


@pytest.fixture(scope="session")
def doc_data(tmp_path_factory) -> Path:
    """The generated datasets, made once per session."""
    from calibclip.datasets import generate_pedes, generate_tigr

    root = tmp_path_factory.mktemp("doc_data")
    pedes = generate_pedes(root / "pedes", seed=SEED, ids=45,
                           layouts=("cuhkpedes", "icfgpedes", "rstpreid", "annotations"))
    generate_tigr(root / "tigr100k", seed=SEED, scale="small")
    photos = root / "photos"
    photos.mkdir()
    for i, src in enumerate(sorted((Path(pedes["roots"]["rstpreid"]) / "imgs").glob("*.jpg"))[:8], 1):
        shutil.copy(src, photos / f"p{i:02d}.jpg")
    return root


def _shims(folder: Path) -> Path:
    """``calibclip``, ``csdclip`` and ``python`` running this interpreter on this checkout."""
    folder.mkdir()
    scripts = {"calibclip": "-m calibclip.cli.main", "csdclip": "-m calibclip.cli.csdclip",
               "python": "", "python3": ""}
    for name, module in scripts.items():
        shim = folder / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" {module} "$@"\n')
        shim.chmod(0o755)
    return folder


@pytest.fixture
def doc_workspace(doc_data, tmp_path, monkeypatch) -> tuple[Path, dict[str, str]]:
    """(a fresh working directory with the data in place, the environment for its commands)."""
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    pedes = doc_data / "pedes"
    for name in ("CUHK-PEDES", "ICFG-PEDES", "RSTPReid", "PEDES"):
        (work / "data" / name).symlink_to(pedes / name)
    (work / "data" / "tigr100k").symlink_to(doc_data / "tigr100k")
    (work / "photos").symlink_to(doc_data / "photos")
    for name in ("configs", "scripts", "model"):  # what a clone has beside the data
        (work / name).symlink_to(REPO / name)
    cache = tmp_path / "cache"
    monkeypatch.setenv("CALIBCLIP_CACHE", str(cache))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # examples never download
    env = dict(os.environ, CALIBCLIP_CACHE=str(cache), COLUMNS="100",
               PATH=f"{_shims(tmp_path / 'bin')}{os.pathsep}{os.environ['PATH']}",
               HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])))
    return work, env
