"""Training the tiny model: loss, schedule, clause dropout, resume, CLI, and the shipped checkpoint."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from calibclip.backbones import load_backbone
from calibclip.backbones.tiny import bundled_checkpoint, load_tiny_model
from calibclip.cli.main import main
from calibclip.errors import ConfigError
from calibclip.training.config import load_train_config
from calibclip.training.contrastive import ContrastiveTrainer, clip_loss, read_state, warmup_cosine
from calibclip.training.data import drop_clauses, positives
from calibclip.training.model import build_trainee
from calibclip.datasets.pedes import load_pedes
from calibclip.training.synthetic import pedes_identities, pedes_pairs, pedes_recaptioner


def test_clip_loss_equals_cross_entropy_with_one_positive():
    torch.manual_seed(0)
    img, txt = F.normalize(torch.randn(5, 8), dim=-1), F.normalize(torch.randn(5, 8), dim=-1)
    scale = torch.tensor(math.log(10.0))
    logits = 10.0 * txt @ img.T
    expected = (F.cross_entropy(logits, torch.arange(5)) + F.cross_entropy(logits.T, torch.arange(5))) / 2
    assert torch.allclose(clip_loss(img, txt, scale, torch.eye(5, dtype=torch.bool)), expected, atol=1e-6)


def test_clip_loss_shares_target_between_positives():
    # two identical pairs of one group: each row puts 1/2 on both columns; logits all 0 → loss = log 2
    img = txt = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    pos = positives(torch.tensor([0, 1]), torch.tensor([3, 3]))
    assert pos.all()
    loss = clip_loss(img, txt, torch.tensor(0.0), pos)
    assert loss.item() == pytest.approx(math.log(2))


def test_positives_same_image_or_group():
    pos = positives(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 0, 1, 0]))
    expected = torch.tensor([[1, 1, 0, 1], [1, 1, 0, 1], [0, 0, 1, 0], [1, 1, 0, 1]], dtype=torch.bool)
    assert torch.equal(pos, expected)


def test_warmup_cosine_values():
    f = warmup_cosine(warmup=4, total=14, min_ratio=0.1)
    assert [f(0), f(3)] == [0.25, 1.0]
    assert f(4) == pytest.approx(1.0)
    assert f(9) == pytest.approx(0.1 + 0.9 * 0.5)      # half way through the cosine
    assert f(14) == pytest.approx(0.1) and f(100) == pytest.approx(0.1)


def test_drop_clauses_keeps_first_clause():
    caption = "A man in a red coat, blue jeans and a cap. He carries a black bag."
    rng = np.random.default_rng(0)
    assert drop_clauses(caption, 0.0, rng) == caption
    assert drop_clauses(caption, 0.999999, rng) == "A man in a red coat,"
    assert drop_clauses("一位穿红色外套的女士，背着黑色背包。", 0.999999, rng) == "一位穿红色外套的女士，"
    kept = {drop_clauses(caption, 0.5, rng) for _ in range(200)}
    assert len(kept) == 4 and all(k.startswith("A man in a red coat,") for k in kept)


def test_joined_pairs_and_resampled_captions_follow_the_same_people(pedes_root):
    pairs = pedes_pairs(pedes_root, "train", (64, 32), joined=True)
    images = len(pairs.images)
    assert len(pairs) == 3 * images                      # two captions per image, then one joined text each
    first, second = pairs.captions[0], pairs.captions[1]
    assert pairs.captions[2 * images] == f"{first} {second}"
    identities = pedes_identities(pedes_root, "cuhkpedes")
    sample = pedes_recaptioner(pedes_root, "train", joined=True)
    fresh = sample(np.random.default_rng(1))
    assert len(fresh) == len(pairs) and fresh != pairs.captions
    assert fresh == pedes_recaptioner(pedes_root, "train", joined=True)(np.random.default_rng(1))
    data = load_pedes(pedes_root, "train")
    for text, image in zip(fresh, pairs.caption_image.tolist()):
        colour = identities[int(data.image_pids[image])]["garment_colour"]
        assert colour in text                             # every caption names the person's dominant colour


def test_loss_decreases_on_fixed_batch(pedes_root, small_config):
    cfg = small_config()
    pairs = pedes_pairs(pedes_root, "train", tuple(cfg.model.image_size))
    first_of_group = {}
    for i, group in enumerate(pairs.caption_group.tolist()):
        first_of_group.setdefault(group, i)
    idx = torch.tensor(list(first_of_group.values()))   # one caption per person: one positive per row
    image_idx = pairs.caption_image[idx]
    pos = positives(image_idx, pairs.caption_group[idx])
    assert torch.equal(pos, torch.eye(len(idx), dtype=torch.bool))
    torch.manual_seed(0)
    trainer = ContrastiveTrainer(build_trainee(cfg, pairs.captions, torch.device("cpu")), cfg, total_steps=40)
    batch = (pairs.images[image_idx], [pairs.captions[i] for i in idx.tolist()], pos)
    losses = [trainer.train_step(*batch) for _ in range(20)]
    assert trainer.step == 20
    assert losses[0] > 0.9 * math.log(len(idx))         # chance level at the start
    assert losses[-1] < 0.3 * losses[0], losses


def _run(trainer, pairs, epochs):
    return [loss for _ in range(epochs) for loss in trainer.run_epoch(pairs)]


def test_resume_continues_exactly(pedes_root, tmp_path, small_config):
    cfg = small_config(augment={"clause_dropout": 0.3, "shift": 4, "brightness": 0.1, "flip": True})
    pairs = pedes_pairs(pedes_root, "train", tuple(cfg.model.image_size))
    steps = len(pairs) // 8

    def fresh(init_seed):
        torch.manual_seed(init_seed)
        return ContrastiveTrainer(build_trainee(cfg, pairs.captions, torch.device("cpu")), cfg, total_steps=2 * steps)

    straight = _run(fresh(0), pairs, 2)
    first = fresh(0)
    assert _run(first, pairs, 1) == straight[:steps]
    first.save_state(tmp_path / "last.pt")
    resumed = fresh(123)  # other initial weights: everything must come from the file
    resumed.load_state(read_state(tmp_path / "last.pt"))
    assert (resumed.step, resumed.epoch) == (steps, 1)
    for a, b in zip(first.optimizer.state_dict()["state"].values(), resumed.optimizer.state_dict()["state"].values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and a["step"] == b["step"]
    assert _run(resumed, pairs, 1) == straight[steps:]


def test_cli_trains_writes_loadable_checkpoint_and_resumes(tmp_path, capsys, write_config):
    config = write_config(tmp_path)
    out, data = tmp_path / "run", tmp_path / "data"
    args = ["train", "--config", str(config), "--out", str(out), "--data-dir", str(data), "--json"]
    assert main(args) == 0
    assert {p.name for p in out.iterdir()} >= {"tiny.pt", "best.pt", "last.pt", "resolved.yaml", "history.json"}
    backbone = load_backbone(f"tiny:{out / 'tiny.pt'}", "cpu")
    emb = backbone.embed_texts(["a woman in a red coat", "a man"])
    assert torch.allclose(emb.norm(dim=-1), torch.ones(2), atol=1e-5)
    _, extra = load_tiny_model(out / "tiny.pt")
    assert extra["seed"] == 0 and extra["data_seeds"]["pedes"] == 1000 and extra["steps"] >= 1
    assert yaml.safe_load((out / "resolved.yaml").read_text())["data_dir"] == str(data)
    first_steps = read_state(out / "last.pt")["step"]
    capsys.readouterr()
    assert main(args + ["--resume", "--epochs", "2"]) == 0
    state = read_state(out / "last.pt")
    assert (state["epoch"], state["step"]) == (2, 2 * first_steps)
    assert [h["epoch"] for h in state["history"]] == [1, 2]


def test_cli_resume_without_state_is_one_line(tmp_path, capsys, write_config):
    config = write_config(tmp_path)
    code = main(["train", "--config", str(config), "--out", str(tmp_path / "none"), "--resume",
                 "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no training state to resume" in err


@pytest.mark.parametrize("bad, message", [
    ({"optimizer": {"lr": 1}}, "unknown key(s) ['optimizer']"),
    ({"optim": {"learning_rate": 1}}, "unknown key(s) ['learning_rate']"),
    ({"epochs": "ten"}, "config.epochs has the wrong type"),
    ({"model": {"image_size": [60, 32]}}, "not a multiple of model.patch_size"),
])
def test_cli_bad_config_is_one_line(tmp_path, capsys, bad, message, write_config):
    config = write_config(tmp_path, **bad)
    code = main(["train", "--config", str(config), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "run").exists()


def test_config_error_from_api():
    with pytest.raises(ConfigError, match="unknown key"):
        load_train_config(None, {"modle": {}})


def test_shipped_checkpoint_loads_small_and_unit_norm():
    path = bundled_checkpoint()
    assert path.is_file(), "the shipped tiny.pt is missing"
    assert path.stat().st_size <= 20 * 1024 * 1024
    backbone = load_backbone("tiny", "cpu")
    text = backbone.embed_texts(["a woman in a red coat with a black backpack", "一位穿红色外套的女士"])
    from PIL import Image
    image = backbone.embed_images([Image.new("RGB", (128, 384), (200, 30, 30))])
    norms = torch.cat([text, image]).norm(dim=-1)
    assert torch.allclose(norms, torch.ones(3), atol=1e-4)
    _, extra = load_tiny_model(path)
    assert extra["val_metrics"]["rank1"] > 70.0  # the shipped run: 73.75 on the val split (README)


def test_default_config_is_the_shipped_recipe():
    shipped = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"
    assert load_train_config(shipped) == load_train_config(None)
