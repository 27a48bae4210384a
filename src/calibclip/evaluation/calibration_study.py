"""The protocol behind every CalibCLIP claim: fixed knobs, fresh seeds, paired deltas, cheap controls.

One first stage for every row (``original``, stated in the table header), K and λ
from the method's public code; each variant changes one thing against the
public-code configuration. The controls cost the same as the methods:
random patch suppression at the same ratio, random and frequency word masking
at the same ratio. A backbone's own preset is chosen on a separate dev seed
(``choose_preset``) by a rule fixed before looking, and only then measured on
the test seeds. Rows report mean ± std over seeds and the paired per-seed
delta against the baseline (its spread, not each set's difficulty).
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from calibclip.backbones.base import Backbone
from calibclip.calibration.cve import CVE_KNOBS, calibrate_images
from calibclip.calibration.dcc import discriminate_texts
from calibclip.calibration.presets import backbone_preset, resolve_calibration
from calibclip.calibration.retriever import GalleryFeatures, QueryFeatures, score_features
from calibclip.config import CalibrationConfig
from calibclip.datasets.pedes import PedesSplit
from calibclip.evaluation.metrics import person_retrieval_metrics
from calibclip.index.encode import iter_pixel_batches

log = logging.getLogger(__name__)

METRICS = ("rank1", "rank5", "rank10", "mAP", "mINP")
# name -> overrides of the public-code configuration (None: the baseline, plain CLIP)
VARIANTS: dict[str, dict[str, Any] | None] = {
    "baseline": None,
    "public code (CVE register + DCC general)": {},
    "CVE only (register)": {"dcc_enabled": False},
    "DCC only (general)": {"cve_enabled": False},
    "CVE adaptive decay": {"dcc_enabled": False, "decay_mode": "adaptive"},
    "CVE flat-pixel selection": {"dcc_enabled": False, "dominant_select": "flat"},
    "CVE attention selection (public code's rule)": {"dcc_enabled": False, "dominant_select": "attention"},
    "control: random patch suppression": {"dcc_enabled": False, "dominant_select": "random"},
    "DCC attention selection (previous rule)": {"cve_enabled": False, "mask_select": "attention"},
    "control: frequency word masking": {"cve_enabled": False, "mask_select": "frequency"},
    "control: random word masking": {"cve_enabled": False, "mask_select": "random"},
}
# the dev-seed grid a backbone preset is chosen from (fixed before any measurement)
PRESET_GRID = {"cve_enabled": (True, False), "dcc_enabled": (True, False), "lam": (0.1, 0.3, 0.5)}


@dataclass
class EncodedSplit:
    """One seed's test split encoded under every image-side and text-side setting the variants need."""

    query_pids: np.ndarray
    gallery_pids: np.ndarray
    galleries: dict[tuple, GalleryFeatures]
    queries: dict[tuple, QueryFeatures]


def cve_key(cfg: CalibrationConfig) -> tuple:
    return tuple(getattr(cfg, k) for k in CVE_KNOBS)


def _dcc_key(cfg: CalibrationConfig) -> tuple:
    return (cfg.mask_select, cfg.mask_ratio, cfg.min_masked, cfg.min_df, cfg.word_pool, cfg.dcc_corpus,
            cfg.random_seed)


@torch.no_grad()
def encode_split(backbone: Backbone, split: PedesSplit, configs: Sequence[CalibrationConfig],
                 batch_size: int = 128) -> EncodedSplit:
    """Gallery and queries once per distinct CVE / DCC setting among ``configs`` (one ViT pass per batch)."""
    cve = {cve_key(c): c for c in configs if c.cve_enabled}
    dcc = {_dcc_key(c): c for c in configs if c.dcc_enabled}
    original = torch.zeros(len(split.image_paths), backbone.embed_dim)
    calibrated = {key: torch.zeros_like(original) for key in cve}
    for idx, pixels in iter_pixel_batches(backbone, split.image_paths, batch_size, desc="study gallery"):
        parts = backbone.vit_parts(pixels) if cve else None
        original[idx] = (backbone.image_from_tokens(pixels, parts=parts) if cve
                         else backbone.encode_image(pixels)).float().cpu()
        for key, cfg in cve.items():
            calibrated[key][idx] = calibrate_images(backbone, pixels, cfg, parts=parts).calibrated.float().cpu()
    galleries = {key: GalleryFeatures(original, emb) for key, emb in calibrated.items()}
    galleries[()] = GalleryFeatures(original, None)
    texts = list(split.captions)
    plain = backbone.embed_texts(texts)
    queries = {(): QueryFeatures(plain, None, [[] for _ in texts], texts)}
    for key, cfg in dcc.items():
        out = discriminate_texts(backbone, texts, cfg)
        queries[key] = QueryFeatures(out.original, out.discriminative, out.masked_words, out.masked_texts)
    return EncodedSplit(split.caption_pids, split.image_pids, galleries, queries)


def metrics_of(split: EncodedSplit, cfg: CalibrationConfig | None) -> dict[str, float]:
    """IRRA metrics of ``cfg`` (None: the plain baseline) on one encoded split."""
    if cfg is None:
        scores = score_features(split.queries[()], split.galleries[()],
                                CalibrationConfig(cve_enabled=False, dcc_enabled=False))["baseline"]
    else:
        gallery = split.galleries[cve_key(cfg) if cfg.cve_enabled else ()]
        query = split.queries[_dcc_key(cfg) if cfg.dcc_enabled else ()]
        scores = score_features(query, gallery, cfg, baseline=False)["calibrated"]
    return person_retrieval_metrics(scores, split.query_pids, split.gallery_pids)


def summarise(name: str, runs: list[dict[str, float]], base: list[dict[str, float]],
              metrics: Sequence[str] = METRICS, deltas: Sequence[str] = ("rank1", "mAP")) -> dict[str, Any]:
    """Mean ± std over seeds, and the paired per-seed delta against the baseline (``deltas``)."""
    row: dict[str, Any] = {"variant": name}
    for metric in metrics:
        values = np.array([r[metric] for r in runs])
        row[metric] = f"{values.mean():.2f} ± {values.std():.2f}"
    for metric in deltas:
        delta = np.array([r[metric] - b[metric] for r, b in zip(runs, base)])
        row[f"Δ{metric}"] = f"{delta.mean():+.2f} ± {delta.std():.2f}"
        row[f"_delta_{metric}"] = [float(d) for d in delta]
    row["_per_seed"] = {m: [float(r[m]) for r in runs] for m in metrics}
    return row


def variant_configs(backbone: Backbone, include_preset: bool = True) -> dict[str, CalibrationConfig | None]:
    """Every row's resolved config: the public-code values with one change each (+ the backbone preset)."""
    public = resolve_calibration(CalibrationConfig())
    out = {name: None if overrides is None else dataclasses.replace(public, **overrides)
           for name, overrides in VARIANTS.items()}
    if include_preset and backbone_preset(backbone):
        out["backbone preset"] = resolve_calibration(None, backbone)
    return out


def run_study(backbone: Backbone, splits: Sequence[PedesSplit],
              configs: dict[str, CalibrationConfig | None]) -> list[dict[str, Any]]:
    """One row per config over the test splits (seeds), baseline first."""
    encoded = [encode_split(backbone, split, [c for c in configs.values() if c is not None]) for split in splits]
    runs = {name: [metrics_of(split, cfg) for split in encoded] for name, cfg in configs.items()}
    base = runs.get("baseline") or [metrics_of(split, None) for split in encoded]
    return [summarise(name, result, base) for name, result in runs.items()]


def preset_grid() -> list[CalibrationConfig]:
    """The candidate presets of ``PRESET_GRID`` on top of the public-code values (both off = plain CLIP)."""
    public = resolve_calibration(CalibrationConfig())
    grid = []
    for cve, dcc, lam in itertools.product(*PRESET_GRID.values()):
        if cve or dcc:
            grid.append(dataclasses.replace(public, cve_enabled=cve, dcc_enabled=dcc, lam=lam))
    return grid


def choose_preset(backbone: Backbone, dev: PedesSplit) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The dev-seed winner by R@1, then mAP; plain CLIP wins ties, then fewer methods, then smaller λ."""
    grid = preset_grid()
    encoded = encode_split(backbone, dev, grid)
    rows = [{"cve_enabled": False, "dcc_enabled": False, "lam": 0.0, **metrics_of(encoded, None)}]
    rows += [{"cve_enabled": c.cve_enabled, "dcc_enabled": c.dcc_enabled, "lam": c.lam, **metrics_of(encoded, c)}
             for c in grid]
    best = max(rows, key=lambda r: (round(r["rank1"], 6), round(r["mAP"], 6),
                                    -(r["cve_enabled"] + r["dcc_enabled"]), -r["lam"]))
    preset = {"cve_enabled": best["cve_enabled"], "dcc_enabled": best["dcc_enabled"]}
    if best["cve_enabled"] or best["dcc_enabled"]:
        preset["lam"] = best["lam"]
    return preset, rows


__all__ = ["VARIANTS", "PRESET_GRID", "METRICS", "EncodedSplit", "encode_split", "metrics_of", "summarise", "cve_key",
           "variant_configs", "run_study", "preset_grid", "choose_preset"]
