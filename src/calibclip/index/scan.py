"""Walk a folder and diff it against the index: what to read, what is unchanged, what is gone.

The walk follows directory symlinks but visits every real directory once
(symlink loops and aliases are listed, never followed twice); broken or
looping file links, non-regular files and names that are not valid UTF-8 are
listed with a reason. Only files with an image suffix are candidates (the rest
are counted as ignored). A file is *unchanged* when its size and mtime match
the index; otherwise it is read, and its content hash decides (``indexer``).
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from calibclip.datasets.images import IMAGE_SUFFIXES
from calibclip.errors import DatasetLayoutError
from calibclip.index.store import FileRecord


@dataclass(frozen=True)
class FileStat:
    """A candidate image file as found on disk."""

    path: str
    size: int
    mtime_ns: int


@dataclass
class Scan:
    """The result of walking one folder."""

    root: str
    files: list[FileStat] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)   # path → why it cannot be indexed
    ignored: int = 0                                          # files without an image suffix


@dataclass
class Plan:
    """What an index run has to do for one folder."""

    read: list[FileStat]                  # new or changed (size/mtime): read, hash, maybe encode
    unchanged: int                        # same size and mtime as indexed
    known_bad: dict[str, str]             # skipped before and unchanged since: not retried
    removed: list[str]                    # indexed (or skipped) paths no longer in the folder
    problems: dict[str, str]              # found by the walk (links, names, non-regular files)
    ignored: int


def _link_problem(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno == errno.ENOENT:
        return "broken symlink"
    if exc.errno == errno.EACCES:
        return "permission denied"
    return f"cannot stat: {exc.strerror or exc}"


def printable(path: str) -> str:
    """``path`` safe to print and store: bytes that are not UTF-8 shown as ``\\xNN``."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _visit(entry: os.DirEntry, scan: Scan, stack: list[str]) -> None:
    try:
        is_dir = entry.is_dir(follow_symlinks=True)
    except OSError as exc:
        scan.problems[printable(entry.path)] = _link_problem(exc)
        return
    if is_dir:
        stack.append(entry.path)
        return
    if Path(entry.name).suffix.lower() not in IMAGE_SUFFIXES:
        scan.ignored += 1
        return
    problem = None if printable(entry.path) == entry.path else "file name is not valid UTF-8 (rename it)"
    try:
        info = entry.stat(follow_symlinks=True)
    except OSError as exc:
        problem = problem or _link_problem(exc)
    else:
        if not stat.S_ISREG(info.st_mode):
            problem = problem or "not a regular file"
    if problem:
        scan.problems[printable(entry.path)] = problem
        return
    scan.files.append(FileStat(entry.path, info.st_size, info.st_mtime_ns))


def scan_folder(root: str | Path) -> Scan:
    """Every candidate image under ``root`` (recursively, sorted by path), plus what was found wrong."""
    top = os.path.realpath(root)  # one folder reached through two links is one set of rows
    if not os.path.isdir(top):
        raise DatasetLayoutError(f"image folder not found: {top}", "pass an existing folder")
    scan, stack, seen = Scan(root=top), [top], set()
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError as exc:
            scan.problems[printable(folder)] = f"folder unreadable: {_link_problem(exc)}"
            continue
        key = (info.st_dev, info.st_ino)
        if key in seen:
            scan.problems[printable(folder)] = "symlink loop (folder already visited)"
            continue
        seen.add(key)
        for entry in entries:
            _visit(entry, scan, stack)
    scan.files.sort(key=lambda f: f.path)
    return scan


def plan(scan: Scan, indexed: dict[str, FileRecord], skipped: dict[str, tuple[int, int, str]]) -> Plan:
    """Diff a scan against what the index holds under the same root."""
    read, unchanged, known_bad = [], 0, {}
    for f in scan.files:
        row, bad = indexed.get(f.path), skipped.get(f.path)
        if row is not None and (row.size, row.mtime_ns) == (f.size, f.mtime_ns):
            unchanged += 1
        elif row is None and bad is not None and bad[:2] == (f.size, f.mtime_ns):
            known_bad[f.path] = bad[2]
        else:
            read.append(f)
    present = {f.path for f in scan.files}
    removed = sorted(p for p in {*indexed, *skipped} if p not in present)
    return Plan(read=read, unchanged=unchanged, known_bad=known_bad, removed=removed,
                problems=dict(scan.problems), ignored=scan.ignored)


__all__ = ["FileStat", "Scan", "Plan", "scan_folder", "plan", "printable"]
