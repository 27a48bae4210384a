"""Trained CalibCLIP: the CVE head (exact at step 0, calibration on top, saved and loaded) and its training."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from calibclip.backbones import load_backbone
from calibclip.backbones.cve_head import CveBackbone, CveHead, CveHeadConfig
from calibclip.backbones.tiny import TinyBackbone
from calibclip.calibration.cve import calibrate_images
from calibclip.calibration.model import build_calibclip
from calibclip.cli.main import main
from calibclip.config import CalibrationConfig
from calibclip.errors import CheckpointMismatch, ConfigError
from calibclip.training.contrastive import ContrastiveTrainer, read_state
from calibclip.training.curriculum import key_ids
from calibclip.training.data import ImageFiles, iter_images
from calibclip.training.model import build_trainee
from calibclip.training.synthetic import pedes_keys, pedes_pairs

CVE = {"enabled": True, "num_heads": 2, "num_layers": 1, "dropout": 0.1}
DCC = {"enabled": True, "temperature": None, "image_curriculum_epochs": [1], "image_hard_ratios": [0.0, 0.5],
       "text_curriculum_epochs": [1], "text_mask_rates": [0.0, 0.5], "text_swap_rates": [0.0, 0.5],
       "sdm_weight": 0.5}
SEED_ARCH = {"embed_dim": 32, "vision_layers": 2, "vision_width": 128, "text_layers": 2, "text_width": 64,
             "text_heads": 2}


def _perturbed(head: CveHead) -> CveHead:
    torch.manual_seed(1)
    with torch.no_grad():
        for p in head.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return head.eval()


def test_untrained_head_returns_the_backbone_embedding_exactly():
    inner = load_backbone("tiny:none", "cpu")
    pixels = torch.randn(3, 3, *inner.image_size)
    wrapped = CveBackbone(inner, CveHead(CveHeadConfig(width=192, embed_dim=inner.embed_dim, num_heads=4)))
    assert torch.equal(wrapped.encode_image(pixels), inner.encode_image(pixels))
    cfg = CalibrationConfig()
    assert torch.allclose(calibrate_images(wrapped, pixels, cfg).calibrated,
                          calibrate_images(inner, pixels, cfg).calibrated, atol=1e-6)
    _perturbed(wrapped.head)
    moved = wrapped.encode_image(pixels)
    assert (moved - inner.encode_image(pixels)).abs().max() > 1e-3
    # the calibration path routes the recomputed CLS state through the head: unscaled, it is encode_image
    assert torch.allclose(wrapped.image_from_tokens(pixels), moved, atol=1e-5)


def test_head_shape_errors_are_config_errors():
    with pytest.raises(ConfigError, match="heads cannot split"):
        CveHeadConfig(width=130, embed_dim=16, num_heads=8)


def test_tiny_checkpoint_carries_the_head(tmp_path, small_config, pedes_root):
    cfg = small_config(cve=CVE)
    trainee = build_trainee(cfg, ["a man in a red coat"], torch.device("cpu"))
    _perturbed(trainee.backbone.head)
    path = trainee.save(tmp_path / "t.pt", {"note": 1})
    loaded = load_backbone(f"tiny:{path}", "cpu")
    assert isinstance(loaded, CveBackbone) and isinstance(loaded.inner, TinyBackbone)
    pixels = torch.randn(2, 3, 64, 32)
    trainee.module.eval()
    assert torch.allclose(loaded.encode_image(pixels), trainee.backbone.encode_image(pixels), atol=3e-3)
    assert main(["evaluate", "--checkpoint", str(path), "--data_root", str(pedes_root), "--split", "val",
                 "--device", "cpu", "--json"]) == 0
    with pytest.raises(CheckpointMismatch, match="is a tiny checkpoint"):
        build_calibclip(pretrained=path)


def _fixed_batch(pairs):
    first = {}
    for i, group in enumerate(pairs.caption_group.tolist()):
        first.setdefault(group, i)
    idx = torch.tensor(list(first.values()))[:8]
    image_idx = pairs.caption_image[idx]
    return pairs.images[image_idx], [pairs.captions[i] for i in idx.tolist()], torch.eye(len(idx), dtype=torch.bool)


def test_tiny_with_cve_and_dcc_starts_at_the_backbone_and_learns(pedes_root, small_config):
    cfg = small_config(cve=CVE, dcc=DCC)
    pairs = pedes_pairs(pedes_root, "train", (64, 32))
    torch.manual_seed(0)
    trainee = build_trainee(cfg, pairs.captions, torch.device("cpu"))
    pixels = torch.rand(4, 3, 64, 32)
    trainee.module.eval()
    plain = TinyBackbone(trainee.backbone.spec, torch.device("cpu"), trainee.backbone.inner.model)
    assert torch.equal(trainee.backbone.encode_image(pixels), plain.encode_image(pixels))
    trainer = ContrastiveTrainer(trainee, cfg, total_steps=30)
    batch = _fixed_batch(pairs)
    losses = [trainer.train_step(*batch) for _ in range(15)]
    assert losses[-1] < 0.5 * losses[0], losses
    assert trainee.backbone.head.proj.weight.abs().max() > 0      # the head learned something


def test_resume_with_cve_and_curriculum_gives_the_same_losses(pedes_root, small_config, tmp_path):
    cfg = small_config(cve=CVE, dcc=DCC, augment={"clause_dropout": 0.3, "shift": 2, "brightness": 0.1,
                                                  "flip": False})
    pairs = pedes_pairs(pedes_root, "train", (64, 32))
    keys = key_ids([f"k{g % 2}" for g in pairs.caption_group.tolist()])

    def fresh(init_seed):
        torch.manual_seed(init_seed)
        return ContrastiveTrainer(build_trainee(cfg, pairs.captions, torch.device("cpu")), cfg, total_steps=20)

    straight = fresh(0)
    losses = [straight.run_epoch(pairs, keys) for _ in range(2)]
    first = fresh(0)
    assert first.run_epoch(pairs, keys) == losses[0]
    first.save_state(tmp_path / "last.pt")
    resumed = fresh(7)
    resumed.load_state(read_state(tmp_path / "last.pt"))
    assert resumed.stage.hard_share == 0.5 and resumed.stage.swap_rate == 0.5   # epoch 1: the second stage
    assert resumed.run_epoch(pairs, keys) == losses[1]


def test_random_vit_b16_starts_at_the_backbone_and_learns(tmp_path, small_config):
    """The real architecture (open_clip's CLIP ViT-B/16, random weights) at 64×32, batch 4, a few steps."""
    cfg = small_config(backbone="calibclip", cve={"enabled": True},
                       clip={"data": {"image_size": [64, 32]}},
                       optim={"batch_size": 4, "lr": 1e-5, "warmup_steps": 1})
    trainee = build_trainee(cfg, [], torch.device("cpu"))
    head = trainee.backbone.head
    assert head.cfg.width == 768 and trainee.backbone.embed_dim == 512
    pixels = torch.rand(2, 3, 64, 32)
    trainee.module.eval()
    assert torch.equal(trainee.backbone.encode_image(pixels), trainee.backbone.inner.encode_image(pixels))
    captions = ["a man in a red coat", "a woman in a blue dress", "a man with a black bag", "a woman in a green top"]
    batch = trainee.backbone.tokenize(captions)
    with torch.no_grad():  # training cuts the padding after the last end token: same embeddings (causal tower)
        assert torch.allclose(trainee.backbone.text_features(batch), trainee.backbone.inner.model.encode_text(batch),
                              atol=1e-5)
    trainer = ContrastiveTrainer(trainee, cfg, total_steps=10)
    images = torch.randint(0, 256, (4, 3, 64, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    losses = [trainer.train_step(images, captions, torch.eye(4, dtype=torch.bool)) for _ in range(3)]
    assert losses[0] == pytest.approx(math.log(4), abs=0.2)      # chance level for a random model
    assert losses[2] < losses[1] < losses[0], losses


def _seed_yaml(tmp_path, **train):
    data = {"_base_": str(Path(__file__).resolve().parents[2] / "configs" / "cuhkpedes.yaml"),
            "model": {**SEED_ARCH, "cve": {"num_heads": 2, "num_layers": 1}},
            "data": {"image_size": [64, 32]}, "dataset": {"layout": None},
            "train": {"epochs": 2, "device": "cpu", "threads": 2,
                      "optim": {"batch_size": 8, "lr": 1e-4, "warmup_steps": 1},
                      "data": {"workers": 0, "val_max_images": 12}, **train}}
    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_tools_train_on_a_dataset_folder_writes_a_seed_checkpoint(tmp_path, pedes_root, capsys):
    """The seed command (tools/train.py == calibclip train) on a folder; the result loads everywhere."""
    out = tmp_path / "out"
    args = ["train", "--config", str(_seed_yaml(tmp_path)), "--data_root", str(pedes_root), "--output_dir", str(out),
            "--epochs", "1", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["final_val"]) == {"baseline", "calibrated"}
    assert {p.name for p in out.iterdir()} >= {"calibclip.pth", "best.pt", "last.pt", "history.csv", "resolved.yaml"}
    model = build_calibclip(pretrained=out / "calibclip.pth")
    assert model.cve_head is not None and model.config.data.image_size == (64, 32)
    assert build_calibclip(pretrained=out / "calibclip.pth", **SEED_ARCH).cve_head is not None
    assert main(["evaluate", "--config", str(_seed_yaml(tmp_path)), "--checkpoint", str(out / "calibclip.pth"),
                 "--data_root", str(pedes_root), "--split", "val", "--device", "cpu", "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["baseline"]["rank1"] == pytest.approx(report["final_val"]["baseline"]["rank1"])
    assert main(args[:-3] + ["--resume", "--epochs", "2", "--json"]) == 0
    history = json.loads(capsys.readouterr().out)["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,loss,hard_share") and len(rows) == 3


def test_seed_train_section_is_checked(tmp_path, capsys):
    code = main(["train", "--config", str(_seed_yaml(tmp_path, optim={"lr_max": 1})), "--output_dir",
                 str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "unknown key(s) ['lr_max']" in err


def test_cve_enabled_false_switches_a_trained_head_off(tmp_path):
    model = build_calibclip(None, config=None, image_size=(64, 32), **SEED_ARCH)
    assert model.cve_head is None
    head = CveHead(CveHeadConfig(width=128, embed_dim=32, num_heads=2, num_layers=1))
    from calibclip.calibration.model import CalibCLIP

    path = CalibCLIP(model.clip, model.config, "none", _perturbed(head)).save(tmp_path / "m.pth")
    assert build_calibclip(pretrained=path).cve_head is not None
    off = build_calibclip(pretrained=path, cve={"enabled": False})
    assert off.cve_head is None
    pixels = torch.rand(2, 3, 64, 32)
    assert torch.equal(off.encode_image(pixels), model.encode_image(pixels))
    assert not torch.allclose(build_calibclip(pretrained=path).encode_image(pixels), off.encode_image(pixels))


def test_dataset_folder_images_decode_the_same_in_worker_processes(pedes_root):
    pairs = pedes_pairs(pedes_root, "train", (64, 32), lazy=True)
    assert isinstance(pairs.images, ImageFiles)
    batches = [torch.tensor([0, 3, 5]), torch.tensor([2, 1])]
    here = list(iter_images(pairs.images, batches, workers=0))
    assert [tuple(b.shape) for b in here] == [(3, 3, 64, 32), (2, 3, 64, 32)] and here[0].dtype == torch.uint8
    assert all(torch.equal(a, b) for a, b in zip(here, iter_images(pairs.images, batches, workers=1)))
    eager = pedes_pairs(pedes_root, "train", (64, 32))
    assert torch.equal(here[0], eager.images[batches[0]])
