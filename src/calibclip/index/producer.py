"""What made an index's vectors: backbone, weights, preprocessing, dimension, grid and calibration.

Vectors from two models (or one model with two preprocessings, or two CVE
settings) are not comparable, and a search over a mix returns silently wrong
scores (rclip's index did not record its producer). Every database stores a
``Producer``; indexing into, or searching, a database with a different one is
refused with one line that says what differs.

* weights: SHA-256 over every state-dict tensor's name, shape and a strided
  sample of its values rounded to fp16 (so fp16 and fp32 copies of one
  checkpoint agree; any other checkpoint differs in virtually every tensor);
* preprocessing: SHA-256 of the model's transform applied to a fixed
  synthetic picture (resize, crop, mean/std all show up in it);
* calibration: the resolved ``CalibrationConfig`` and its hash. Only the CVE
  knobs shape stored vectors, so only they must match at search time.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from calibclip import __version__
from calibclip.backbones.base import Backbone
from calibclip.calibration.cve import CVE_KNOBS
from calibclip.calibration.presets import resolve_calibration
from calibclip.config import CalibrationConfig, from_dict, to_dict
from calibclip.errors import IndexMismatch
from calibclip.index.relevance import reference_hash

_SAMPLE = 1024


@dataclass(frozen=True)
class Producer:
    """The producer record of an index database (stored as JSON in its ``meta`` table)."""

    backbone: str                       # spec string, e.g. "openclip:ViT-B-16:openai"
    weights: str                        # weights fingerprint (see module docstring)
    preprocess: str                     # preprocessing fingerprint
    dim: int                            # embedding dimension
    grid: tuple[int, int] | None        # CVE patch grid (rows, cols); None when CVE does not apply
    calibration: dict                   # resolved CalibrationConfig the CVE vectors were made with
    calibration_hash: str               # SHA-256 of ``calibration`` (sorted JSON)
    reference: str = ""                 # hash of the reference captions behind the stored match statistics
    calibclip: str = __version__        # version that created the database

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Producer":
        grid = tuple(data["grid"]) if data.get("grid") else None
        return cls(**{**data, "grid": grid})

    def calibration_config(self) -> CalibrationConfig:
        return from_dict(CalibrationConfig, self.calibration, "index calibration")


def weights_fingerprint(backbone: Backbone) -> str:
    """Hash of the backbone's weights (sampled, device- and fp16/fp32-independent)."""
    model = getattr(backbone, "model", None)
    digest = hashlib.sha256()
    if model is None:
        digest.update(backbone.spec.raw.encode())
        return digest.hexdigest()
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().reshape(-1)
        digest.update(f"{name}:{tuple(tensor.shape)}".encode())
        if flat.numel():
            sample = flat[:: max(1, flat.numel() // _SAMPLE)][:_SAMPLE]
            digest.update(sample.to(torch.float16).cpu().numpy().tobytes())
    return digest.hexdigest()


def _probe_image() -> Image.Image:
    """A fixed, non-square, textured RGB picture (97×61): every resize/crop/normalise step changes it."""
    y, x = np.mgrid[0:61, 0:97]
    pixels = np.stack([(x * 255) // 96, (y * 255) // 60, ((x * y) % 251)], axis=-1).astype(np.uint8)
    return Image.fromarray(pixels)


def preprocess_fingerprint(backbone: Backbone) -> str:
    tensor = backbone.preprocess(_probe_image())
    values = np.round(tensor.float().cpu().numpy(), 3) + 0.0  # + 0.0: no negative zeros in the hash
    return hashlib.sha256(f"{tuple(values.shape)}".encode() + values.astype("<f4").tobytes()).hexdigest()


def config_hash(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()


@torch.no_grad()
def describe(backbone: Backbone, cfg: CalibrationConfig) -> Producer:
    """The producer record of vectors ``backbone`` makes under ``cfg`` (CVE off when it does not apply).

    ``cfg`` is resolved against the backbone's preset first: the record holds the knobs actually used.
    """
    cfg = resolve_calibration(cfg, backbone)
    grid = None
    if backbone.supports_image_calibration and cfg.cve_enabled:
        pixels = backbone.preprocess(_probe_image()).unsqueeze(0).to(backbone.device)
        grid = tuple(int(g) for g in backbone.image_tokens(pixels).grid)
    else:
        cfg = dataclasses.replace(cfg, cve_enabled=False)
    resolved = to_dict(cfg)
    return Producer(backbone=backbone.spec.raw, weights=weights_fingerprint(backbone),
                    preprocess=preprocess_fingerprint(backbone), dim=int(backbone.embed_dim), grid=grid,
                    calibration=resolved, calibration_hash=config_hash(resolved), reference=reference_hash())


def check_same_model(stored: Producer, current: Producer, db: str) -> None:
    """Refuse vectors of another model: one line naming what differs and what to do."""
    for name, what in (("backbone", "backbone"), ("weights", "weights"), ("preprocess", "preprocessing"),
                       ("dim", "embedding size")):
        if getattr(stored, name) != getattr(current, name):
            if name == "backbone":
                raise IndexMismatch(f"index {db} was made by backbone {stored.backbone!r}, not {current.backbone!r}",
                                    f"use --backbone {stored.backbone}, or a new --db for this backbone")
            raise IndexMismatch(f"index {db} was made with other {what} than backbone {current.backbone!r} "
                                "has now", "re-index into a new --db (the stored vectors would not compare)")


def check_same_cve(stored: Producer, cfg: CalibrationConfig, db: str) -> None:
    """Refuse a CVE config other than the one the stored vectors were made with (CVE off is always fine)."""
    if not cfg.cve_enabled:
        return
    if not stored.calibration.get("cve_enabled"):
        raise IndexMismatch(f"index {db} holds no CVE-calibrated vectors",
                            "search with cve_enabled: false, or re-index with a ViT backbone and CVE on")
    differ = [k for k in CVE_KNOBS[1:] if stored.calibration.get(k) != getattr(cfg, k)]
    if differ:
        shown = ", ".join(f"{k}={getattr(cfg, k)} (index: {stored.calibration.get(k)})" for k in differ)
        raise IndexMismatch(f"CVE config differs from the one index {db} was made with: {shown}",
                            "search with the index's CVE knobs, or re-index into a new --db with these")


__all__ = ["Producer", "describe", "weights_fingerprint", "preprocess_fingerprint", "config_hash",
           "check_same_model", "check_same_cve"]
