"""MkDocs hook: pages generated from the code, so they cannot fall behind it.

* ``<!-- generated: cli -->`` becomes the ``--help`` of every ``calibclip``
  subcommand (from ``calibclip.cli.main.build_parser()``) and of ``csdclip``.
* ``<!-- generated: api -->`` becomes one mkdocstrings block per name in
  ``calibclip.__all__``.

The repository's ``src/`` is put first on ``sys.path``, so a checkout documents
its own code, not an installed copy.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
CLI_MARK = "<!-- generated: cli -->"
API_MARK = "<!-- generated: api -->"


def _import_calibclip():
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    import calibclip

    return calibclip


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help_text(parser: argparse.ArgumentParser) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps at $COLUMNS: keep the page the same on every machine
    try:
        return parser.format_help().rstrip()
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def cli_markdown() -> str:
    """One section per command: its one-line help and its full ``--help``."""
    _import_calibclip()
    from calibclip.cli.csdclip import build_parser as csdclip_parser
    from calibclip.cli.main import build_parser

    top = build_parser()
    parts = ["## `calibclip`", "", "```text", _help_text(top), "```", ""]
    for name, sub in _subparsers(top).items():
        parts += [f"## `calibclip {name}`", "", sub.description or "", "", "```text", _help_text(sub), "```", ""]
    parts += ["## `csdclip`", "", "Also `python model/model.py` (same flags).", "",
              "```text", _help_text(csdclip_parser()), "```", ""]
    return "\n".join(parts)


def api_markdown() -> str:
    """A mkdocstrings block for every public name of the package."""
    calibclip = _import_calibclip()
    parts = []
    for name in calibclip.__all__:
        module = calibclip._LAZY.get(name)
        if module is None:  # a plain attribute such as __version__
            parts += [f"### `calibclip.{name}`", "", f"`{getattr(calibclip, name)!r}`", ""]
        else:
            parts += [f"::: {module}.{name}", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if CLI_MARK in markdown:
        markdown = markdown.replace(CLI_MARK, cli_markdown())
    if API_MARK in markdown:
        markdown = markdown.replace(API_MARK, api_markdown())
    return markdown
