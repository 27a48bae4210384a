"""Which calibration knobs apply to a backbone: explicit config, then the backbone's preset, then defaults.

A backbone may carry a calibration preset with its weights, the way it carries
its preprocessing (a ``tiny`` checkpoint stores the values measured on it, and
the diagnosis that says whether either method has anything to correct). The
library defaults are the values of the method's public code
(``PUBLIC_CODE_DEFAULTS``), never values tuned on our own toy models.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

from calibclip.config import PUBLIC_CODE_DEFAULTS, CalibrationConfig, from_dict

log = logging.getLogger(__name__)

SOURCES = ("config", "preset", "default")
_WARNED: set[tuple[str, str]] = set()


def backbone_preset(backbone: Any) -> dict[str, Any]:
    """The calibration preset a backbone carries (empty when it has none)."""
    return dict(getattr(backbone, "calibration_preset", None) or {})


def resolve_calibration(cfg: CalibrationConfig | None = None, backbone: Any = None) -> CalibrationConfig:
    """Every knob filled: set in ``cfg`` → the backbone's preset → ``PUBLIC_CODE_DEFAULTS``.

    Idempotent: resolving a resolved config returns equal values.

    Example:
        >>> resolve_calibration(CalibrationConfig(lam=0.3)).lam, resolve_calibration().lam
        (0.3, 0.5)
    """
    explicit = {k: v for k, v in dataclasses.asdict(cfg or CalibrationConfig()).items() if v is not None}
    preset = {k: v for k, v in backbone_preset(backbone).items() if k in PUBLIC_CODE_DEFAULTS}
    return from_dict(CalibrationConfig, {**PUBLIC_CODE_DEFAULTS, **preset, **explicit}, where="calibration")


def calibration_sources(cfg: CalibrationConfig | None = None, backbone: Any = None) -> dict[str, str]:
    """Where each resolved knob came from: ``config``, ``preset`` or ``default`` (for ``--json`` output)."""
    explicit = dataclasses.asdict(cfg or CalibrationConfig())
    preset = backbone_preset(backbone)
    return {k: "config" if explicit.get(k) is not None else "preset" if k in preset else "default"
            for k in PUBLIC_CODE_DEFAULTS}


def resolved_report(cfg: CalibrationConfig | None = None, backbone: Any = None) -> dict[str, Any]:
    """``{"values": resolved knobs, "sources": where each came from}``: what the CLIs print and save."""
    return {"values": dataclasses.asdict(resolve_calibration(cfg, backbone)),
            "sources": calibration_sources(cfg, backbone)}


def warn_if_nothing_to_correct(backbone: Any, cfg: CalibrationConfig,
                               sources: dict[str, str] | None = None) -> list[str]:
    """Log one warning per backbone and method enabled where the diagnosis found nothing to correct.

    The diagnosis is the one the backbone carries with its preset, else the one cached by
    ``calibclip diagnose``. A method that the backbone's own preset enables (``sources`` says
    ``preset``: e.g. ``tiny`` keeps CVE on because it is bit-exact there) is not warned about:
    the preset was measured on that backbone. Returns the methods warned about.
    """
    from calibclip.calibration.diagnosis_cache import diagnosis_for

    diagnosis = diagnosis_for(backbone)
    if not diagnosis:
        return []
    sources = sources or {}
    warned = []
    for method, enabled in (("cve", cfg.cve_enabled), ("dcc", cfg.dcc_enabled)):
        verdict = diagnosis.get(method, {})
        if enabled and verdict.get("applies") is False and sources.get(f"{method}_enabled") != "preset":
            warned.append(method)
            key = (str(getattr(getattr(backbone, "spec", None), "raw", backbone)), method)
            if key not in _WARNED:
                _WARNED.add(key)
                log.warning("%s is enabled but `calibclip diagnose` found nothing for it to correct on %s (%s); "
                            "expect no gain", method.upper(), key[0], verdict.get("reason", "see the diagnosis"))
    return warned


__all__ = ["SOURCES", "backbone_preset", "resolve_calibration", "calibration_sources", "resolved_report",
           "warn_if_nothing_to_correct"]
