"""A real ``calibclip serve`` on 127.0.0.1 over an indexed folder, shared by the API and browser tests."""
from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _index_fixtures():
    path = Path(__file__).resolve().parent.parent / "index" / "conftest.py"
    spec = importlib.util.spec_from_file_location("index_test_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fixtures = _index_fixtures()
micro_spec = _fixtures.micro_spec
write_images = _fixtures.write_images


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def served(tmp_path_factory, micro_spec):
    """(base URL, database path, folder, the server's first output line) of a running server."""
    from calibclip.backbones import load_backbone
    from calibclip.index.indexer import index_folder

    root = tmp_path_factory.mktemp("served")
    write_images(root / "photos", 30, seed=21, size=(48, 64))
    index_folder(root / "photos", root / "photos.db", load_backbone(micro_spec, "cpu"), workers=0)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "calibclip.cli.main", "serve", "--db", str(root / "photos.db"),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{base}/api/info", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"calibclip serve did not start: {proc.stdout.read()[-2000:]}")
        time.sleep(0.2)
    first_line = proc.stdout.readline().strip()
    yield base, root / "photos.db", root / "photos", first_line
    proc.terminate()
    proc.wait(timeout=30)
