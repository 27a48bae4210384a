"""Calibration knobs: explicit config → the backbone's preset → the public-code defaults."""
import dataclasses

import yaml

from calibclip.backbones import load_backbone
from calibclip.backbones.tiny import bundled_checkpoint, load_tiny_model, save_tiny_checkpoint
from calibclip.calibration.presets import calibration_sources, resolve_calibration, resolved_report
from calibclip.calibration.retriever import CalibratedRetriever
from calibclip.calibration.seed_config import load_seed_config
from calibclip.cli.commands.evaluate import write_outputs
from calibclip.config import PUBLIC_CODE_DEFAULTS, CalibrationConfig


def test_defaults_are_the_public_code_values():
    cfg = resolve_calibration()
    assert (cfg.dominant_ratio, cfg.decay, cfg.mask_ratio, cfg.lam, cfg.rerank_k, cfg.first_stage) == \
        (0.1, 0.1, 0.2, 0.5, 100, "original")
    assert dataclasses.asdict(cfg) == PUBLIC_CODE_DEFAULTS
    assert resolve_calibration(cfg) == cfg  # idempotent


def _with_preset(tmp_path, preset):
    model, extra = load_tiny_model(bundled_checkpoint())
    path = save_tiny_checkpoint(model, tmp_path / "tiny.pt", extra={**extra, "calibration_preset": preset})
    return load_backbone(f"tiny:{path}", "cpu")


def test_a_checkpoint_preset_applies_and_explicit_config_wins(tmp_path):
    backbone = _with_preset(tmp_path, {"lam": 0.2, "dcc_enabled": False})
    assert CalibratedRetriever(backbone).cfg.lam == 0.2 and not CalibratedRetriever(backbone).cfg.dcc_enabled
    explicit = CalibrationConfig(lam=0.7)
    assert CalibratedRetriever(backbone, explicit).cfg.lam == 0.7
    sources = calibration_sources(explicit, backbone)
    assert (sources["lam"], sources["dcc_enabled"], sources["decay"]) == ("config", "preset", "default")


def test_resolved_yaml_holds_the_values_used_and_reads_back(tmp_path):
    backbone = _with_preset(tmp_path, {"lam": 0.2})
    cfg = load_seed_config()
    report = {"calibration": resolved_report(cfg.calibration, backbone)}
    _, resolved = write_outputs(tmp_path / "out", report, cfg)
    written = yaml.safe_load(resolved.read_text())["calibration"]
    assert written["lam"] == 0.2 and written["decay"] == 0.1 and None not in (written["cve_enabled"], written["lam"])
    assert load_seed_config(resolved).calibration.lam == 0.2  # a resolved.yaml is a valid --config
    assert report["calibration"]["sources"]["lam"] == "preset"
