"""The documentation site builds strictly, covers every command and public name, and the README stays short."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """``mkdocs build --strict`` into a temporary folder (a warning — broken link, missing API page — fails)."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_every_command_has_its_section_in_the_cli_reference(site):
    from calibclip.cli.main import COMMANDS

    page = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"<code>calibclip {name}</code>" in page, name
        assert f"usage: calibclip {name}" in page, name
    assert "usage: csdclip" in page


def test_every_public_name_has_api_docs(site):
    import calibclip

    page = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    documented = set(re.findall(r'id="(calibclip[\w.]*)"', page))
    for name in calibclip.__all__:
        if name.startswith("__"):
            assert f"calibclip.{name}" in page, name
            continue
        target = f"{calibclip._LAZY[name]}.{name}"
        assert target in documented, f"{name}: no API section {target}"
        assert re.search(rf'id="{re.escape(target)}".*?<p>', page, re.S), f"{name}: no docstring rendered"


def test_every_page_is_in_the_nav():
    import yaml

    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    listed = set(re.findall(r"[\w/.-]+\.md", str(nav)))
    pages = {str(p.relative_to(REPO / "docs")) for p in (REPO / "docs").rglob("*.md")}
    assert pages == listed


def test_readme_is_short():
    lines = (REPO / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines; move detail into docs/"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(python3 -m venv .venv .*?)\n```", readme)
    assert len(commands) == 2, commands
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci == commands[1]
