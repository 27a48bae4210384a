"""Dual curriculum: the schedule, the composition of each epoch's batches, the dominant-attribute rules."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from calibclip.calibration.seed_config import DccCfg
from calibclip.datasets.pedes import load_pedes
from calibclip.errors import ConfigError
from calibclip.training.contrastive import ContrastiveTrainer
from calibclip.training.curriculum import hard_batches, key_ids, stage_at
from calibclip.training.dominant import dominant_key, dominant_span, mask_dominant, swap_dominant
from calibclip.training.model import build_trainee
from calibclip.training.synthetic import pedes_keys, pedes_pairs

SEED_DCC = DccCfg()  # the seed's schedule: image steps at 10, 20, 30; text at 15, 25, 35


@pytest.mark.parametrize("epoch, image, text", [
    (0, 0.0, 0.0), (9, 0.0, 0.0), (10, 0.125, 0.0), (14, 0.125, 0.0), (15, 0.125, 0.1), (20, 0.25, 0.1),
    (25, 0.25, 0.2), (30, 0.5, 0.2), (35, 0.5, 0.3), (59, 0.5, 0.3)])
def test_stage_switches_at_the_listed_epochs(epoch, image, text):
    stage = stage_at(SEED_DCC, epoch)
    assert (stage.hard_share, stage.mask_rate, stage.swap_rate) == (image, text, text)


def test_disabled_curriculum_is_plain_training():
    stage = stage_at(DccCfg(enabled=False), 40)
    assert (stage.hard_share, stage.mask_rate, stage.swap_rate) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("dcc, message", [
    ({"image_hard_ratios": [0.0, 0.5]}, "dcc.image_hard_ratios needs 4 values"),
    ({"text_curriculum_epochs": [5, 3], "text_mask_rates": [0, 0, 0], "text_swap_rates": [0, 0, 0]},
     "must be increasing epochs"),
    ({"text_swap_rates": [0, 0.1, 0.2, 1.5]}, "dcc.text_swap_rates values must be in [0, 1]"),
    ({"temperature": 0}, "dcc.temperature must be in (0, 1]"),
])
def test_bad_schedule_is_one_config_error(small_config, dcc, message):
    with pytest.raises(ConfigError) as exc:
        small_config(dcc={"enabled": True, **dcc})
    assert message in exc.value.one_line()


def _cluster_sizes(batch: np.ndarray, keys: np.ndarray, groups: np.ndarray) -> int:
    """Pairs of distinct people sharing the batch's most common attribute."""
    counts = Counter(int(keys[i]) for i in batch if keys[i] >= 0)
    top = counts.most_common(1)[0][0]
    return len({int(groups[i]) for i in batch if keys[i] == top})


def test_hard_batches_hold_the_configured_share():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(200), 3)              # 200 people, 3 pairs each
    keys = np.repeat(rng.integers(0, 4, 200), 3)       # 4 dominant attributes, ~50 people each
    plain = hard_batches(keys, groups, 16, 0.0, np.random.default_rng(1))
    assert np.array_equal(np.concatenate(plain), np.random.default_rng(1).permutation(600)[:len(plain) * 16])
    batches = hard_batches(keys, groups, 16, 0.5, np.random.default_rng(1))
    assert len(batches) == 600 // 16 and all(len(b) == 16 for b in batches)
    used = np.concatenate(batches)
    assert len(np.unique(used)) == len(used)            # every pair at most once per epoch
    sizes = [_cluster_sizes(b, keys, groups) for b in batches]
    assert min(sizes[:25]) >= 8                         # half of each batch: 8 people sharing one attribute
    assert np.median([_cluster_sizes(b, keys, groups) for b in plain]) < 8
    assert len(hard_batches(keys, groups, 16, 0.5, np.random.default_rng(1), steps=5)) == 5


def test_epoch_batches_follow_the_schedule(pedes_24, small_config):
    """At each epoch the trainer's batches have the cluster share the config lists for it."""
    cfg = small_config(dcc={"enabled": True, "image_curriculum_epochs": [1, 2],
                            "image_hard_ratios": [0.0, 0.25, 0.5], "text_curriculum_epochs": [],
                            "text_mask_rates": [0.0], "text_swap_rates": [0.0]})
    pairs = pedes_pairs(pedes_24, "train", (64, 32))
    groups = pairs.caption_group.numpy()
    keys = key_ids([f"colour {g % 2}" for g in groups])  # 16 people, 2 attributes: clusters of 4 always fit
    trainer = ContrastiveTrainer(build_trainee(cfg, pairs.captions, torch.device("cpu")), cfg, total_steps=10)
    for epoch, share in [(0, 0.0), (1, 0.25), (2, 0.5), (3, 0.5)]:
        trainer.epoch = epoch
        assert trainer.stage.hard_share == share
        first = trainer.batches(pairs, keys)[0]
        assert len(first) == 8 and _cluster_sizes(first, keys, groups) >= round(share * 8)


def test_dominant_phrase_rules():
    caption = "A woman in a red and white striped coat, black trousers and a blue bag."
    assert dominant_span(caption) == (4, 8)
    assert dominant_key(caption) == "red coat"
    assert mask_dominant(caption) == "A woman in a, black trousers and a blue bag."
    assert dominant_key("The man has grey hair and wears a Gray JACKET.") == "grey coat"
    assert dominant_key("A man with black shoes and a blue backpack.") is None
    assert dominant_key("一位穿红色外套的女士") is None
    assert mask_dominant("a man") == "a man" and swap_dominant("a man", np.random.default_rng(0)) is None
    swapped = {swap_dominant("She wears a red dress.", np.random.default_rng(s)) for s in range(40)}
    assert len(swapped) > 5 and all(s.startswith("She wears a ") and s.endswith(" dress.") for s in swapped)
    assert "She wears a red dress." not in swapped and not any("dark" in s or "gray" in s for s in swapped)


def test_caption_rule_recovers_the_generator_attribute(pedes_24):
    """On generated captions the real-data rule finds the exact garment + colour of synth_meta.json."""
    pairs = pedes_pairs(pedes_24, "train", (64, 32))
    exact = pedes_keys(pedes_24, pairs)
    from_words = [dominant_key(c) for c in pairs.captions]
    agree = np.mean([a == b for a, b in zip(exact, from_words)])
    assert agree >= 0.95, agree
    assert len(set(exact)) >= 5 and None not in exact
    assert load_pedes(pedes_24, "train").layout == "cuhkpedes"


def test_epoch_captions_follow_the_text_schedule(small_config):
    """At each epoch the share of masked captions and of colour-swapped negatives is the configured one."""
    cfg = small_config(dcc={"enabled": True, "image_curriculum_epochs": [], "image_hard_ratios": [0.0],
                            "text_curriculum_epochs": [1, 3], "text_mask_rates": [0.0, 0.2, 0.6],
                            "text_swap_rates": [0.0, 0.4, 0.1]})
    caption = "A woman in a red coat, black trousers and a blue bag."
    texts, without = [caption] * 1000, mask_dominant(caption)
    trainer = ContrastiveTrainer(build_trainee(cfg, texts[:1], torch.device("cpu")), cfg, total_steps=10)
    for epoch, mask, swap in [(0, 0.0, 0.0), (1, 0.2, 0.4), (2, 0.2, 0.4), (3, 0.6, 0.1), (5, 0.6, 0.1)]:
        trainer.epoch = epoch
        captions, negatives = trainer.captions(texts, trainer.stage)
        masked = captions.count(without) / len(texts)
        assert masked == pytest.approx(mask, abs=0.05) and len(negatives) / len(texts) == pytest.approx(swap, abs=0.05)
        assert all(dominant_key(n) not in (None, "red coat") and n.endswith("coat, black trousers and a blue bag.")
                   for n in negatives)
        assert all(c in (caption, without) for c in captions)
