"""Typed errors with a hint, so every entry point can answer with one clear line.

The library raises these and never prints or exits; ``cli`` and ``scripts`` turn
them into ``error: <message> (<hint>)`` and exit code 2.
"""
from __future__ import annotations


class CalibclipError(Exception):
    """Base class: ``message`` says what went wrong and where, ``hint`` what to do."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The single line shown to a user."""
        text = self.message if not self.hint else f"{self.message} ({self.hint})"
        return " ".join(text.split())

    def __str__(self) -> str:  # what Python shows is what the CLI prints after "error: "
        return self.one_line()


class SpecError(CalibclipError):
    """A backbone spec string that cannot be parsed or names nothing registered."""


class WeightsNotFound(CalibclipError):
    """Weights are missing locally and cannot be downloaded."""


class CheckpointMismatch(CalibclipError):
    """A checkpoint whose shapes or keys do not fit the model asked for."""


class NotApplicable(CalibclipError):
    """A method asked of a backbone that lacks what the method needs (e.g. CVE on a ResNet)."""


class DatasetLayoutError(CalibclipError):
    """A dataset folder that does not match any supported layout, or misses a file."""


class CorruptData(CalibclipError):
    """A file that exists but cannot be read (corrupt LMDB, truncated JSON, ...)."""


class BadImage(CalibclipError):
    """An image that cannot be decoded."""


class BadQuery(CalibclipError):
    """A query that cannot be searched (empty, nothing left after parsing, ...)."""


class ConfigError(CalibclipError):
    """A config file or value that is invalid (unknown key, wrong type)."""


class RewriteError(CalibclipError):
    """A query rewriter that failed (LLM endpoint down, unparseable answer)."""


class IndexMismatch(CalibclipError):
    """An index database made by another backbone, weights, preprocessing, calibration or schema."""


class IndexBusy(CalibclipError):
    """An index database another process is writing."""


class UnknownImage(BadQuery):
    """An image id the index does not hold."""
