"""The search page in headless Chromium (Debian's ``chromium`` driven by Playwright; no browser download).

Search, toggle calibration and composite, see thumbnails and clause scores, open a heatmap; the page is
saved as a screenshot under pytest's tmp dir, or ``$CALIBCLIP_TEST_ARTIFACTS`` when set (never committed).
"""
import os
import shutil
from pathlib import Path

import pytest

QUERY = "a man in a red coat with a black bag, no hat"


def chromium_path() -> str | None:
    """Debian's Chromium (``apt-get install chromium``), or None."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def browser(page_script):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the web extra (playwright) is not installed")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=page_script.CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _thumbnails_loaded(page) -> bool:
    return page.evaluate("""() => {
        const images = Array.from(document.querySelectorAll('#columns .hit img'));
        return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0);
    }""")


def test_search_toggle_and_explain_in_chromium(browser, served, tmp_path, page_script):
    steps = page_script
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(served[0])
    steps.search(page, QUERY, calibrate=False, composite=False, k=4)
    assert page.locator("#col-baseline .hit").count() == 4
    assert page.locator("#col-calibrated").count() == 0 and page.locator("#col-composite").count() == 0
    assert _thumbnails_loaded(page)

    steps.search(page, QUERY, calibrate=True, composite=True, k=6)
    assert [page.locator(f"#col-{m} .hit").count() for m in ("baseline", "calibrated", "composite")] == [6, 6, 6]
    assert "DCC masked:" in page.inner_text("#col-calibrated .note")
    assert "− hat:" in page.inner_text("#col-composite .hit >> nth=0")
    assert "+ a man with a black bag:" in page.inner_text("#col-composite .hit >> nth=0")
    assert _thumbnails_loaded(page)

    steps.open_explanation(page, "calibrated")
    assert page.inner_text("#masked").strip() not in ("", "none")
    assert "calibrated (top K)" in page.inner_text("#scores")
    folder = Path(os.environ.get("CALIBCLIP_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "search-page.png"), full_page=True)
    assert (folder / "search-page.png").stat().st_size > 10_000

    page.keyboard.press("Escape")
    assert not page.is_visible("#explain")
    page.fill("#q", "   ")
    page.click("button[type=submit]")
    assert "Type what to look for" in page.inner_text("#status")
    steps.search(page, QUERY, min_score=99)
    assert page.inner_text("#col-baseline .empty") == "nothing matches"
    page.close()
