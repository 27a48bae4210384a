"""Knob validation shared by CVE, DCC and rerank: a bad value fails before any image is encoded."""
from __future__ import annotations

from calibclip.errors import ConfigError


def require_number(name: str, value: object, lo: float, hi: float, hint: str,
                   lo_open: bool = False, hi_open: bool = False) -> float:
    """Return ``value`` as a float if it lies in the range, else raise ``ConfigError`` naming the knob.

    YAML hands over whatever was typed (``"0.1"``, ``true``), so the type is checked too.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"calibration knob {name} must be a number, got {value!r}", hint)
    value = float(value)
    low_ok = value > lo if lo_open else value >= lo
    high_ok = value < hi if hi_open else value <= hi
    if not (low_ok and high_ok):
        bounds = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ConfigError(f"calibration knob {name} must lie in {bounds}, got {value:g}", hint)
    return value


def require_int(name: str, value: object, lo: int, hint: str) -> int:
    """Return ``value`` if it is an integer >= ``lo``, else raise ``ConfigError`` naming the knob."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigError(f"calibration knob {name} must be an integer >= {lo}, got {value!r}", hint)
    return value


def require_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``ConfigError`` naming the knob."""
    if value not in choices:
        raise ConfigError(f"calibration knob {name} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


__all__ = ["require_number", "require_int", "require_choice"]
