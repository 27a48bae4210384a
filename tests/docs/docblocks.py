"""Collect and run the code blocks of the Markdown documentation.

Conventions (CONTRIBUTING.md, "Documentation"):

* A fenced block's mark is the last non-blank line before its opening fence:
  ``<!-- test: run -->`` or ``<!-- test: skip (reason) -->``.
* ``python`` blocks run unless marked skip: the blocks of one page in order, in
  one namespace, in the page's working directory.
* ``bash`` / ``console`` blocks must carry one of the two marks; a ``run``
  block's commands are executed there (``console``: the ``$ `` lines; a shown
  ``error: ...`` line means the command must exit 2 and print that line).
"""
from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import runpy
import shlex
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

CLI_LANGS = ("bash", "console")
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<lang>[\w+-]*)\s*$")
_MARK = re.compile(r"^\s*<!--\s*test:\s*(?P<kind>run|skip)\b\s*(?:\((?P<reason>.*)\))?\s*-->\s*$")


@dataclass
class Block:
    """One fenced code block: where it is, its language, its mark and its text."""

    path: str
    line: int  # 1-based line of the opening fence
    lang: str
    mark: str | None  # "run", "skip" or None
    reason: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def parse_blocks(text: str, path: str) -> list[Block]:
    """Every fenced block of a Markdown text, with the mark in front of it."""
    blocks: list[Block] = []
    lines = text.split("\n")
    i, last = 0, ""
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            if lines[i].strip():
                last = lines[i]
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        body, j = [], i + 1
        while j < len(lines) and not re.match(rf"^\s*{re.escape(fence)}\s*$", lines[j]):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        mark = _MARK.match(last)
        blocks.append(Block(path, i + 1, opening["lang"].lower(), mark["kind"] if mark else None,
                            (mark["reason"] or "") if mark else "", "\n".join(body) + "\n"))
        i, last = j + 1, ""
    return blocks


def unmarked_cli_blocks(blocks: list[Block]) -> list[str]:
    """``bash``/``console`` blocks with neither mark (each must be run or say why not)."""
    return [b.where for b in blocks if b.lang in CLI_LANGS and b.mark is None]


class DocExampleFailed(AssertionError):
    """A documented example did not work; the message names the page and line."""


def run_page(blocks: list[Block], cwd: Path, env: dict[str, str]) -> int:
    """Run a page's blocks in order inside ``cwd``: Python in one namespace, ``run`` CLI blocks in a shell.

    Returns how many blocks ran; the first failure raises ``DocExampleFailed`` naming its page and line.
    """
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    old = Path.cwd()
    os.chdir(cwd)
    try:
        for block in blocks:
            if block.lang == "python" and block.mark != "skip":
                run_python(block, namespace)
            elif block.lang in CLI_LANGS and block.mark == "run":
                run_cli_block(block, cwd, env)
            else:
                continue
            ran += 1
    finally:
        os.chdir(old)
    return ran


def run_python(block: Block, namespace: dict) -> None:
    """Execute one Python block; any exception becomes a ``DocExampleFailed`` naming the block."""
    try:
        exec(compile(block.code, block.where, "exec"), namespace)  # noqa: S102 - our own documentation
    except Exception as exc:  # any failure of a documented example is a test failure
        tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
        raise DocExampleFailed(f"{block.where}: python block failed: {type(exc).__name__}: {exc}\n{tail}") from exc


def shell_commands(block: Block) -> list[tuple[str, list[str]]]:
    """(command, shown output lines) of a run block; ``\\`` continuations joined, comments dropped."""
    commands: list[tuple[str, list[str]]] = []
    pending = ""
    for raw in block.code.splitlines():
        line = raw.rstrip()
        if block.lang == "console" and not pending and not line.startswith("$ "):
            if commands and line:
                commands[-1][1].append(line)
            continue
        if block.lang == "console" and not pending:
            line = line[2:]
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        commands.append((pending + line, []))
        pending = ""
    return commands


def run_cli_block(block: Block, cwd: Path, env: dict[str, str]) -> None:
    """Run every command of a ``run`` block in ``cwd`` (each must exit as documented)."""
    for command, shown in shell_commands(block):
        errors = [s for s in shown if s.startswith("error:")]
        code, out, err = run_command(command, cwd, env)
        expected = 2 if errors else 0
        if code != expected:
            raise DocExampleFailed(f"{block.where}: `{command}` exited {code}, expected {expected}\n"
                                   f"{(out + err)[-2000:]}")
        for line in errors:
            if line not in err.splitlines():
                raise DocExampleFailed(f"{block.where}: `{command}` did not print the documented line\n"
                                       f"  documented: {line}\n  printed:    {err.strip()[-600:]}")


_ENTRY_POINTS = {"calibclip": "calibclip.cli.main", "csdclip": "calibclip.cli.csdclip"}
_SHELL = re.compile(r"[|&;<>`$()]")


def run_command(command: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one documented command line.

    ``calibclip``, ``csdclip`` and ``python SCRIPT.py`` run in this process (their ``main``, the
    same code the console scripts call; no second torch import); anything else runs in ``bash``.
    """
    words = shlex.split(command, comments=True) if not _SHELL.search(command) else []
    assign = {}
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        key, value = words.pop(0).split("=", 1)
        assign[key] = value
    if words and (words[0] in _ENTRY_POINTS or (words[0] in ("python", "python3") and len(words) > 1
                                                and words[1].endswith(".py"))):
        return _run_in_process(words, cwd, assign)
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def _run_in_process(words: list[str], cwd: Path, assign: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old_env = {k: os.environ.get(k) for k in assign}
    old_argv, old_cwd = sys.argv, Path.cwd()
    os.environ.update(assign)
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                if words[0] in _ENTRY_POINTS:
                    code = importlib.import_module(_ENTRY_POINTS[words[0]]).main(words[1:])
                else:
                    sys.argv = words[1:]
                    runpy.run_path(words[1], run_name="__main__")
                    code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return int(code or 0), out.getvalue(), err.getvalue()
