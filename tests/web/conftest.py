"""A real ``calibclip serve`` on 127.0.0.1 over an indexed folder, shared by the API and browser tests."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _page_script():
    """``scripts/search_page_screenshot.py``: how to serve, and the Playwright steps the docs screenshot uses."""
    path = Path(__file__).resolve().parents[2] / "scripts" / "search_page_screenshot.py"
    spec = importlib.util.spec_from_file_location("search_page_screenshot", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def page_script():
    return _page_script()


@pytest.fixture(scope="session")
def served(tmp_path_factory, micro_spec, write_images, page_script):
    """(base URL, database path, folder, the server's first output line) of a running server."""
    from calibclip.backbones import load_backbone
    from calibclip.index.indexer import index_folder

    root = tmp_path_factory.mktemp("served")
    write_images(root / "photos", 30, seed=21, size=(48, 64))
    index_folder(root / "photos", root / "photos.db", load_backbone(micro_spec, "cpu"), workers=0)
    with page_script.serving(root / "photos.db") as (base, first_line):
        yield base, root / "photos.db", root / "photos", first_line
