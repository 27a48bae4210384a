"""Screenshot of the search page (docs/img/search-page.png), and the Playwright steps the browser test uses.

Draws a folder of synthetic pedestrians, indexes it with the bundled ``tiny`` model, starts
``calibclip serve`` on 127.0.0.1, drives Debian's headless Chromium through a search with
calibration and composite on, opens the explanation of the best calibrated result, and saves the page.

Example:
    python scripts/search_page_screenshot.py --out docs/img/search-page.png
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
QUERY = "a woman in a red coat with a black handbag, no hat"


def search(page, query: str, calibrate: bool = True, composite: bool = True, k: int = 6,
           min_score: float | None = None) -> None:
    """Fill the form, submit, and wait for the baseline column (and its thumbnails) to arrive."""
    page.fill("#q", query)
    page.set_checked("#calibrate", calibrate)
    page.set_checked("#composite", composite)
    page.fill("#k", str(k))
    page.fill("#min_score", "" if min_score is None else str(min_score))
    page.click("button[type=submit]")
    page.wait_for_function(f"() => document.getElementById('status').textContent.includes({query!r})")
    page.wait_for_function("() => Array.from(document.querySelectorAll('.hit img')).every(i => i.complete)")


def open_explanation(page, method: str = "calibrated", nth: int = 0) -> None:
    """Click a result and wait for its heatmap."""
    page.click(f"#col-{method} .hit >> nth={nth}")
    page.wait_for_selector("#explain.open")
    page.wait_for_function("() => document.getElementById('overlay').naturalWidth > 0")


@contextlib.contextmanager
def serving(db: Path, timeout: float = 180) -> Iterator[tuple[str, str]]:
    """``calibclip serve --db DB`` on a free localhost port → (base URL, its first output line); stopped after."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "calibclip.cli.main", "serve", "--db", str(db), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + timeout
    try:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/api/info", timeout=5).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"calibclip serve did not start: {proc.stdout.read()[-2000:]}")
            time.sleep(0.2)
        yield base, proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def save_small_png(data: bytes, out: Path, colours: int = 128) -> int:
    """Write a screenshot as a palette PNG (a docs image must stay small) → bytes written."""
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, optimize=True)
    return out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/img/search-page.png")
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--query", default=QUERY)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from calibclip.datasets.synthetic_pedes import draw_people_folder
    from calibclip.index.indexer import Indexer

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        draw_people_folder(folder, args.people, args.seed)
        Indexer(Path(tmp) / "photos.db", "tiny", "cpu", workers=0).run(folder)
        with serving(Path(tmp) / "photos.db") as (base, _), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(base)
            search(page, args.query)
            open_explanation(page)
            size = save_small_png(page.screenshot(full_page=True), Path(args.out))
            browser.close()
    print(f"wrote {args.out} ({size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
