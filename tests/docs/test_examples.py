"""Every example in README.md, CONTRIBUTING.md and docs/ works (conventions: CONTRIBUTING.md, "Documentation")."""
from __future__ import annotations

from pathlib import Path

import pytest

from docblocks import CLI_LANGS, DocExampleFailed, parse_blocks, run_page, unmarked_cli_blocks

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted(["README.md", "CONTRIBUTING.md", *(str(p.relative_to(REPO)) for p in (REPO / "docs").rglob("*.md"))])


def blocks_of(page: str):
    return parse_blocks((REPO / page).read_text(encoding="utf-8"), page)


def test_every_cli_example_is_run_or_says_why_not():
    unmarked = [where for page in PAGES for where in unmarked_cli_blocks(blocks_of(page))]
    assert not unmarked, ("bash/console blocks need <!-- test: run --> or <!-- test: skip (reason) --> "
                          f"in front of them: {unmarked}")


def test_the_collector_sees_the_pages():
    all_blocks = [b for page in PAGES for b in blocks_of(page)]
    assert len(PAGES) >= 25
    assert sum(b.lang == "python" and b.mark != "skip" for b in all_blocks) >= 8
    assert sum(b.lang in CLI_LANGS and b.mark == "run" for b in all_blocks) >= 8


RUNNABLE = [p for p in PAGES if any((b.lang == "python" and b.mark != "skip") or b.mark == "run"
                                    for b in blocks_of(p))]


@pytest.mark.parametrize("page", RUNNABLE)
def test_page_examples_run(page, doc_workspace):
    from calibclip.datasets import lmdb_store

    work, env = doc_workspace
    assert run_page(blocks_of(page), work, env) > 0
    assert not lmdb_store._envs, "the page's examples left a TIGR store open (close what you open)"


def test_a_broken_python_block_fails(doc_workspace, tmp_path):
    """The collector reports a documented block that stopped working, with its page and line."""
    page = tmp_path / "broken.md"
    page.write_text("# A page\n\n```python\nfrom calibclip import load_backbone\nmodel = load_backbone('tiny:none')\n```\n\n"
                    "Later the API changed:\n\n```python\nmodel.encode_text_v2(['a man'])\n```\n", encoding="utf-8")
    work, env = doc_workspace
    with pytest.raises(DocExampleFailed, match=r"broken\.md:10: python block failed: AttributeError"):
        run_page(parse_blocks(page.read_text(), "broken.md"), work, env)


def test_a_broken_cli_example_fails(doc_workspace):
    text = "<!-- test: run -->\n```bash\ncalibclip synth pedes --out out --scale tiny\n```\n"
    work, env = doc_workspace
    with pytest.raises(DocExampleFailed, match=r"page\.md:2: `calibclip synth pedes --out out --scale tiny` exited 2"):
        run_page(parse_blocks(text, "page.md"), work, env)


def test_a_skipped_block_is_not_run(doc_workspace):
    text = "<!-- test: skip (needs real weights) -->\n```python\nraise SystemExit('ran')\n```\n"
    work, env = doc_workspace
    assert run_page(parse_blocks(text, "page.md"), work, env) == 0


def test_console_error_lines_are_compared(doc_workspace):
    text = ("<!-- test: run -->\n```console\n$ calibclip encode --backbone nope:x --text hi\n"
            "error: this is not what it prints\n```\n")
    work, env = doc_workspace
    with pytest.raises(DocExampleFailed, match="did not print the documented line"):
        run_page(parse_blocks(text, "page.md"), work, env)

