"""Held-out evaluation of a backbone on fresh synthetic sets (new seeds, never trained on).

Plain retrieval only (the baselines the calibrated and composite methods are
compared with). Besides the whole test set, metrics are reported on the
queries whose attribute combination never occurs in the model's training data
(DESIGN "Embedded default": hold out combinations, or the numbers flatter the
model). For a ``tiny`` checkpoint the seen combinations are stored in it.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from calibclip.backbones.base import Backbone
from calibclip.config import CalibrationConfig
from calibclip.evaluation.metrics import person_retrieval_metrics
from calibclip.training.synthetic import META_FILE, pedes_combination, pedes_identities, read_meta

log = logging.getLogger(__name__)

PEDES_KEYS = ("rank1", "rank5", "rank10", "mAP", "mINP", "num_queries")
TIGR_KEYS = ("GRP@10", "NIPR@10", "nDCG@10", "HR-Hit@10", "R@1", "R@10", "num_queries")


def _pick(metrics: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: metrics[k] for k in keys if k in metrics}


def evaluate_fresh_pedes(backbone: Backbone, root: Path, seen: Sequence[str] | None = None,
                         calibration: CalibrationConfig | None = None) -> dict[str, Any]:
    """IRRA metrics on the test split of a generated person set: all queries, and unseen combinations.

    With ``calibration`` the training-free CalibCLIP scores are reported too
    (subsets ``calibrated_all`` and ``calibrated_unseen_combinations``).
    """
    from calibclip.datasets.pedes import load_pedes
    from calibclip.evaluation.evaluator import evaluate_pedes

    split = load_pedes(root, "test")
    # plain retrieval unless asked: calibration off, so no time is spent on the calibrated scores
    result = evaluate_pedes(backbone, split, calibration or CalibrationConfig(cve_enabled=False, dcc_enabled=False))
    unseen = None
    if seen is not None:
        combos = {pid: pedes_combination(a) for pid, a in pedes_identities(root, split.layout).items()}
        unseen = np.array([combos[int(pid)] not in set(seen) for pid in split.caption_pids])
    out: dict[str, Any] = {}
    for prefix, method in ({"": "baseline", "calibrated_": "calibrated"} if calibration else {"": "baseline"}).items():
        out[f"{prefix}all"] = _pick(result.metrics[method], PEDES_KEYS)
        if unseen is not None and unseen.any():
            metrics = person_retrieval_metrics(result.scores[method][unseen], split.caption_pids[unseen],
                                               split.image_pids)
            out[prefix + "unseen_combinations"] = _pick(metrics, PEDES_KEYS)
    return out


def evaluate_fresh_tigr(backbone: Backbone, root: Path, lang: str,
                        seen: Sequence[str] | None = None) -> dict[str, Any]:
    """Graded metrics of plain retrieval (the raw query) on a generated scene set, per language."""
    from calibclip.composite.rewriters import create_rewriter
    from calibclip.datasets.tigr import load_tigr
    from calibclip.evaluation.composite_eval import evaluate_tigr, tigr_metrics

    tigr_set = load_tigr(root, lang)
    try:
        result = evaluate_tigr(backbone, tigr_set, create_rewriter("gold"))
        out = {"all": _pick(result["baseline"], TIGR_KEYS)}
        if seen is not None:
            queries = read_meta(Path(root) / META_FILE)["queries"]
            unseen = np.array([queries[q.text_id]["and"][0] not in set(seen) for q in tigr_set.queries])
            if unseen.any():
                gains = [g for g, keep in zip(tigr_set.gains(), unseen) if keep]
                out["unseen_combinations"] = _pick(tigr_metrics(result["scores"]["baseline"][unseen], gains,
                                                                (1, 5, 10)), TIGR_KEYS)
    finally:
        tigr_set.close()
    return out


def evaluate_heldout(backbone: Backbone, pedes_root: Path | None = None, tigr_root: Path | None = None,
                     langs: Sequence[str] = ("en", "zh"), seen: dict[str, list[str]] | None = None,
                     calibration: CalibrationConfig | None = None) -> dict:
    """Both evaluations; ``seen`` is a checkpoint's ``seen_combinations`` (None: overall only);
    ``calibration`` adds training-free CalibCLIP on the person set.

    Example:
        >>> backbone = load_backbone("tiny")
        >>> evaluate_heldout(backbone, Path("fresh/CUHK-PEDES"), Path("fresh_tigr"),
        ...                  seen=load_tiny_model(bundled_checkpoint())[1]["seen_combinations"])
    """
    seen = seen or {}
    report: dict[str, Any] = {}
    if pedes_root is not None:
        report["pedes"] = evaluate_fresh_pedes(backbone, pedes_root, seen.get("pedes"), calibration)
    for lang in langs if tigr_root is not None else ():
        report[f"tigr_{lang}"] = evaluate_fresh_tigr(backbone, tigr_root, lang, seen.get("tigr"))
    return report


def seen_for_spec(spec: str) -> dict[str, list[str]] | None:
    """The ``seen_combinations`` stored in a ``tiny`` checkpoint (None for other backbones or old files)."""
    from calibclip.backbones.spec import parse_spec
    from calibclip.backbones.tiny import checkpoint_of, load_tiny_model

    parsed = parse_spec(spec)
    if parsed.family != "tiny" or parsed.random_init:
        return None
    _, extra = load_tiny_model(checkpoint_of(parsed))
    return extra.get("seen_combinations")
