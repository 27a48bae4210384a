"""A hub name that is not cached fails at once, with one line, when the hub cannot be reached.

Whatever ``HF_HUB_OFFLINE`` says: these tests switch it *off* and point the hub at a closed port on
127.0.0.1 (connection refused at once), with an empty cache, as on a machine without network.
"""
from __future__ import annotations

import logging
import socket
import time

import pytest

from calibclip.backbones import hub, load_backbone
from calibclip.cli.csdclip import main as csdclip_main
from calibclip.errors import WeightsNotFound

HUB_SPECS = ["openclip:ViT-B-16:openai", "hf:calibclip-tests/not-a-model", "fgclip:qihoo360/fg-clip-base",
             "cnclip:ViT-B-16"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Hub unreachable, offline mode *not* set, nothing cached."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for proxy in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HOME", str(tmp_path))  # cn_clip's ~/.cache/clip
    hub.reachable.cache_clear()
    yield
    hub.reachable.cache_clear()


@pytest.mark.parametrize("spec", HUB_SPECS)
def test_uncached_hub_name_fails_at_once_with_one_line(no_network, spec, caplog):
    if spec.startswith("cnclip"):
        pytest.importorskip("cn_clip")
    import huggingface_hub.constants as constants
    import open_clip  # noqa: F401 - library imports are not what is timed
    import transformers  # noqa: F401

    started = time.perf_counter()
    with caplog.at_level(logging.WARNING), pytest.raises(WeightsNotFound) as err:
        load_backbone(spec, device="cpu")
    assert time.perf_counter() - started < 5
    line = err.value.one_line()
    assert "\n" not in line and ("download" in line or "hub" in line), line
    assert str(err.value) == line  # Python shows what the CLI prints
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "no retry warnings"
    assert constants.HF_HUB_OFFLINE is False  # the environment's setting is left as it was


def test_the_csdclip_seed_command_fails_at_once(no_network, capsys, tmp_path):
    import open_clip  # noqa: F401

    from calibclip.datasets import generate_tigr

    generate_tigr(tmp_path / "tigr", seed=3, scale="small", langs=("en",))
    capsys.readouterr()
    started = time.perf_counter()
    code = csdclip_main(["--model_name", "clip", "--model_scale", "ViT-B/16", "--dataset_path", str(tmp_path / "tigr"),
                         "--gpu", "0", "--num_res", "10"])
    elapsed = time.perf_counter() - started
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: cannot get open_clip weights ViT-B-16/openai"), err
    assert "cannot be reached" in err and elapsed < 5


def test_a_reachable_hub_is_used(monkeypatch):
    """The probe says yes when something answers (a local server stands in for the hub)."""
    import huggingface_hub.constants as constants

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        for proxy in ("HTTPS_PROXY", "https_proxy"):
            monkeypatch.delenv(proxy, raising=False)
        hub.reachable.cache_clear()
        with hub.hub_access() as usable:
            assert usable and constants.HF_HUB_OFFLINE is False
    hub.reachable.cache_clear()
    assert not hub.reachable(f"http://127.0.0.1:{_closed_port()}")
