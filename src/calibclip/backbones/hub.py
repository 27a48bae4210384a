"""The Hugging Face hub: local files first, and no waiting when the hub cannot be reached.

huggingface_hub retries an unreachable hub for a minute or more, printing a warning per try,
unless ``HF_HUB_OFFLINE`` is set. ``hub_access()`` makes the answer the same whatever the
environment says: one quick TCP probe of the hub (or of the HTTPS proxy); when it fails,
huggingface_hub (and transformers and open_clip, which go through it) run in offline mode, so
a cached file loads at once and a missing one fails at once, with the adapter's one-line error.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
from typing import Iterator
from urllib.parse import urlparse

log = logging.getLogger(__name__)
PROBE_SECONDS = 2.0


def _endpoint() -> str:
    """The URL a hub request would open first: the HTTPS proxy if one is set, else the hub endpoint."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    if proxy:
        return proxy
    try:
        from huggingface_hub import constants

        return constants.ENDPOINT
    except ImportError:
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


@functools.lru_cache(maxsize=8)
def reachable(url: str, seconds: float = PROBE_SECONDS) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``seconds`` (DNS included)."""
    parsed = urlparse(url if "://" in url else f"http://{url}")
    host = parsed.hostname
    if not host:
        return False
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    answer: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=seconds).close()
            answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True)  # getaddrinfo has no timeout of its own
    thread.start()
    thread.join(seconds)
    return bool(answer and answer[0])


@contextlib.contextmanager
def hub_access() -> Iterator[bool]:
    """Inside, the hub is used only if it answers now; yields whether it may be used."""
    try:
        from huggingface_hub import constants
    except ImportError:  # no huggingface_hub: nothing can reach the hub anyway
        yield False
        return
    if constants.HF_HUB_OFFLINE:
        yield False
        return
    if reachable(_endpoint()):
        yield True
        return
    log.info("the Hugging Face hub (%s) cannot be reached: using local files only", _endpoint())
    constants.HF_HUB_OFFLINE = True
    try:
        yield False
    finally:
        constants.HF_HUB_OFFLINE = False


def why_not_downloaded(exc: BaseException) -> str:
    """The reason a hub download failed, in a few words (for one-line errors)."""
    try:
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            return "the Hugging Face hub cannot be reached (or HF_HUB_OFFLINE is set)"
    except ImportError:
        pass
    return " ".join(str(exc).split())[:160] or type(exc).__name__
