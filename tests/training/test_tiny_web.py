"""``configs/tiny-web.yaml``: typed and validated data keys, a short web-style training run, the ``tiny-web`` spec."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from calibclip.backbones.spec import parse_spec
from calibclip.cli.main import main
from calibclip.errors import ConfigError, SpecError
from calibclip.training.config import config_to_dict, load_train_config

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "tiny-web.yaml"


def test_tiny_web_config_loads_with_its_data_plan():
    cfg = load_train_config(CONFIG)
    assert cfg.model.image_size == (96, 96) and cfg.data.pedes_langs == ("en", "zh") == cfg.data.langs
    assert (cfg.data.style, cfg.data.caption_style, cfg.data.salient_share) == ("train", "web", 0.88)


@pytest.mark.parametrize("data, match", [
    ({"caption_style": "web"}, "salient_share 0.0 does not fit caption_style web"),
    ({"salient_share": 0.5}, "salient_share 0.5 does not fit caption_style detailed"),
    ({"caption_style": "alt"}, "caption_style must be detailed or web"),
    ({"style": "heldout"}, "data.style must be classic or train"),
    ({"pedes_langs": ["en", "fr"]}, "must be non-empty lists of en, zh"),
    ({"pedes_langs": "en"}, "wrong type"),
    ({"root": "/data/CUHK-PEDES", "style": "train"}, "apply to generated sets"),
])
def test_bad_data_keys_fail_with_one_clear_error(data, match):
    with pytest.raises(ConfigError, match=match):
        load_train_config(None, {"data": data})


def test_web_training_smoke_run(tmp_path, write_config, capsys):
    # two steps on a tiny generated set: captions in both languages, mostly salient-only, train-style drawings
    config = write_config(tmp_path, model={**load_train_config(None).model.__dict__, "image_size": [32, 32],
                                           "vision_width": 32, "vision_layers": 1, "vision_heads": 2,
                                           "text_width": 32, "text_layers": 1, "text_heads": 2, "embed_dim": 16},
                          optim={"batch_size": 16, "warmup_steps": 1, "steps_per_epoch": 2},
                          data={"pedes_ids": 9, "use_tigr": True, "tigr_scale": "small", "tigr_max_scenes": 12,
                                "val_max_images": 20, "pedes_langs": ["en", "zh"], "style": "train",
                                "caption_style": "web", "salient_share": 0.88, "joined_captions": False})
    out, data = tmp_path / "run", tmp_path / "data"
    assert main(["train", "--config", str(config), "--out", str(out), "--data-dir", str(data), "--threads", "1"]) == 0
    from calibclip.backbones import load_backbone
    from calibclip.backbones.tiny import load_tiny_model

    model, extra = load_tiny_model(out / "tiny.pt")
    assert {"穿", "的", "woman"} <= set(model.cfg.vocab) and extra["steps"] == 2
    assert all("-train" in Path(p).parent.name or "-train" in Path(p).name for p in extra["data_sources"].values())
    backbone = load_backbone(f"tiny:{out / 'tiny.pt'}", "cpu")
    emb = backbone.embed_texts(["a woman in a red coat", "一个穿红色外套的女人"])
    assert np.allclose(emb.norm(dim=-1).numpy(), 1.0, atol=1e-4)


def test_recaptioners_follow_the_pairs(tmp_path):
    from calibclip.datasets.synthetic_pedes import PedesOptions
    from calibclip.datasets.generated import ensure_pedes, ensure_tigr
    from calibclip.training.synthetic import CaptionPlan, pedes_pairs, pedes_recaptioner, tigr_pairs, tigr_recaptioner

    root = ensure_pedes(tmp_path, 5, 9, PedesOptions(style="train"))
    plan = CaptionPlan(("en", "zh"), 0.88, seed=3)
    pairs = pedes_pairs(root, "train", (32, 32), captions=plan)
    images = len(pairs.images)
    assert len(pairs) == 4 * images and pairs.caption_image.tolist()[:4] == [0, 0, 0, 0]
    assert pedes_recaptioner(root, "train", captions=plan)(np.random.default_rng(3)) == pairs.captions
    tigr_root = ensure_tigr(tmp_path, 8, "small", ("en", "zh"), "train")
    scenes_pairs, scenes = tigr_pairs(tigr_root, ("en", "zh"), (32, 32), max_scenes=10)
    assert tigr_recaptioner(tigr_root, scenes, ("en", "zh"), 0.0)(np.random.default_rng(0)) == scenes_pairs.captions
    web = tigr_recaptioner(tigr_root, scenes, ("en", "zh"), 1.0)(np.random.default_rng(0))
    assert all(len(w) < len(full) for w, full in zip(web, scenes_pairs.captions))


def test_tiny_web_spec():
    spec = parse_spec("tiny-web")
    assert (spec.family, spec.arch, spec.weights, spec.raw) == ("tiny", "tiny-web", None, "tiny-web")
    with pytest.raises(SpecError, match="takes no weights"):
        parse_spec("tiny-web:/x.pt")


def test_shipped_tiny_web_loads_encodes_and_knows_the_salient_concept():
    from dataclasses import replace

    from calibclip.backbones import load_backbone
    from calibclip.backbones.tiny import bundled_checkpoint, load_tiny_model
    from calibclip.datasets.draw_person import render_person, sample_style, sample_view, styled_view
    from calibclip.datasets.synthetic_pedes import DOMINANT_COLOURS, sample_person

    path = bundled_checkpoint("tiny-web")
    assert path.is_file() and path.stat().st_size <= 4.5 * 1024 * 1024
    backbone = load_backbone("tiny-web", "cpu")
    assert backbone.image_size == (96, 96)
    _, extra = load_tiny_model(path)
    shipped = extra["train_config"]
    assert (shipped["seed"], shipped["data"]["salient_share"], shipped["data"]["caption_style"]) == (0, 0.88, "web")
    recipe = config_to_dict(load_train_config(CONFIG))
    assert {k: v for k, v in shipped.items() if k not in ("out", "threads", "data_dir")} == \
        {k: v for k, v in recipe.items() if k not in ("out", "threads", "data_dir")}    # trained by configs/tiny-web.yaml
    # one drawn man per dominant colour: "a man in a <colour> coat" must find its own picture
    rng = np.random.default_rng(0)
    images = []
    for colour in DOMINANT_COLOURS:
        person = replace(sample_person(rng), gender="man", garment="coat", lower="trousers", garment_colour=colour)
        style = sample_style(rng, "heldout")
        images.append(render_person(person, styled_view(sample_view(rng), style, rng), rng, style))
    texts = backbone.embed_texts([f"a man in a {c} coat" for c in DOMINANT_COLOURS] +
                                 [f"一个穿{z}外套的男人" for z in ("红色", "蓝色", "黑色", "白色", "绿色")])
    pictures = backbone.embed_images(images)
    norms = np.concatenate([texts.norm(dim=-1).numpy(), pictures.norm(dim=-1).numpy()])
    assert np.allclose(norms, 1.0, atol=1e-3)
    hits = (texts @ pictures.T).argmax(dim=1).numpy() == np.tile(np.arange(5), 2)
    assert hits.sum() >= 8, hits



def test_shipped_tiny_web_carries_its_dev_seed_preset_diagnosis_and_word_frequencies():
    from calibclip.backbones import load_backbone
    from calibclip.calibration.presets import resolve_calibration

    backbone = load_backbone("tiny-web", "cpu")
    # chosen on dev seed 5101 (docs/models/tiny-web.md): nothing beat plain retrieval, so both are off
    assert backbone.calibration_preset == {"cve_enabled": False, "dcc_enabled": False}
    resolved = resolve_calibration(None, backbone)
    assert not resolved.cve_enabled and not resolved.dcc_enabled
    assert backbone.diagnosis["cve"]["applies"] is False and backbone.diagnosis["dcc"]["applies"] is False
    assert backbone.diagnosis["cve"]["register_rate"] == 0.0
    assert len(backbone.word_df) > 20 and all(0.0 < df <= 1.0 for df in backbone.word_df.values())
