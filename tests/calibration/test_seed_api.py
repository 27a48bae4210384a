"""The seed README's Python API and configs, as written there (on a small model and synthetic data)."""
import dataclasses
from pathlib import Path

import pytest
import torch
from PIL import Image

from calibclip.calibration.model import load_seed_model
from calibclip.calibration.seed_config import DatasetCfg, ModelCfg, SeedConfig, load_seed_config
from calibclip.config import CalibrationConfig, read_yaml
from calibclip.errors import ConfigError, WeightsNotFound

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SMALL = dict(embed_dim=32, vision_layers=2, vision_width=128, text_layers=2, text_width=64, text_heads=2)
# The seed README's configs/base.yaml, key for key.
SEED_BASE = {
    "model": {"name": "calibclip", "embed_dim": 512, "vision_layers": 12, "vision_width": 768,
              "vision_patch_size": 16, "text_layers": 12, "text_width": 512, "text_heads": 8, "vocab_size": 49408,
              "cve": {"enabled": True, "num_heads": 8, "num_layers": 2, "dropout": 0.1},
              "dcc": {"enabled": True, "temperature": 0.07, "image_curriculum_epochs": [10, 20, 30],
                      "text_curriculum_epochs": [15, 25, 35]}},
    "data": {"image_size": [384, 128], "max_length": 77},
    "evaluation": {"batch_size": 128},
}


def test_base_yaml_carries_the_seed_keys_plus_ours():
    data = read_yaml(CONFIGS / "base.yaml")
    assert {key: data[key] for key in SEED_BASE} == SEED_BASE
    assert set(data) == {*SEED_BASE, "backbone", "calibration", "dataset", "train"}


def test_base_yaml_equals_the_typed_defaults():
    cfg = load_seed_config(CONFIGS / "base.yaml")
    assert cfg.calibration == CalibrationConfig()  # the YAML must not drift from the measured defaults
    assert dataclasses.replace(cfg, train={}) == SeedConfig()  # train: is checked by calibclip.training
    assert cfg.data.image_size == (384, 128)


@pytest.mark.parametrize("name", ["cuhkpedes", "icfgpedes", "rstpreid"])
def test_dataset_configs_extend_base(name):
    cfg = load_seed_config(CONFIGS / f"{name}.yaml")
    assert (cfg.dataset.name, cfg.dataset.layout, cfg.dataset.split) == (name, None, "test")  # layout: detected
    assert dataclasses.replace(cfg, dataset=DatasetCfg(), train={}) == SeedConfig()


@pytest.mark.parametrize("text, message", [
    ("_base_: {base}\nmodel:\n  vision_layer: 6\n", "unknown key(s) ['vision_layer']"),
    ("_base_: {base}\ndata:\n  image_size: [384]\n", "data.image_size must be [height, width]"),
    ("_base_: {base}\nevaluation:\n  batch_size: 0\n", "evaluation.batch_size must be a positive integer"),
    ("calibration:\n  lambda: 0.5\n", "unknown key(s) ['lambda'] in"),
])
def test_bad_config_values_fail_with_the_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text.format(base=CONFIGS / "base.yaml"))
    with pytest.raises(ConfigError) as exc:
        load_seed_config(path)
    assert message in exc.value.one_line()


@pytest.fixture(scope="module")
def pedes_root(tmp_path_factory):
    from calibclip.datasets.synthetic_pedes import generate_pedes

    summary = generate_pedes(tmp_path_factory.mktemp("pedes"), seed=3, ids=30, scale="small", layouts=("cuhkpedes",))
    return summary["roots"]["cuhkpedes"]


def test_seed_python_api_as_written(pedes_root):
    from calibclip import CalibCLIP, build_calibclip
    from calibclip.datasets import build_test_loader, build_transforms
    from calibclip.evaluation import Evaluator

    model = build_calibclip(pretrained=None, **SMALL)
    assert isinstance(model, CalibCLIP)
    model.eval()
    transform = build_transforms(is_train=False, image_size=(384, 128))
    loader = build_test_loader(pedes_root, transform=transform, batch_size=16)
    results = Evaluator(model, device="cpu").evaluate(loader)
    for key in ("rank1", "rank5", "rank10", "mAP", "mINP"):
        assert 0.0 <= results[key] <= 100.0 and 0.0 <= results["baseline"][key] <= 100.0
    assert results["num_queries"] == len(loader.split.captions) and results["num_images"] == len(loader.split.image_paths)
    assert results["rank1"] <= results["rank5"] <= results["rank10"]
    # the loader's transform is the model's own preprocessing, so a bare split scores the same
    assert Evaluator(model, device="cpu").evaluate(loader.split) == results


def test_test_loader_batches_carry_index_pid_and_pixels(pedes_root):
    from calibclip.datasets import build_test_loader

    loader = build_test_loader(pedes_root, batch_size=8)
    index, pids, pixels = next(iter(loader))
    assert index.tolist() == list(range(8))
    assert pids.tolist() == loader.split.image_pids[:8].tolist()
    assert tuple(pixels.shape) == (8, 3, 384, 128)
    assert len(loader) == -(-len(loader.split.image_paths) // 8)


@pytest.fixture(scope="module")
def small_model():
    from calibclip import build_calibclip

    return build_calibclip(**SMALL)


def test_preprocess_is_the_seed_transform(small_model):
    from calibclip.datasets import build_transforms

    image = Image.new("RGB", (90, 250), (200, 30, 40))
    assert torch.equal(small_model.preprocess(image), build_transforms(False, (384, 128))(image))


def test_encode_text_takes_a_string_a_list_or_token_ids(small_model):
    text = "a man in a blue shirt"
    one = small_model.encode_text(text)
    assert torch.equal(one, small_model.encode_text([text]))
    assert torch.equal(one, small_model.encode_text(small_model.tokenize([text])))
    torch.testing.assert_close(one.norm(dim=-1), torch.ones(1))


def test_calibrated_image_embedding_follows_the_calibration_config(small_model):
    from calibclip import build_calibclip

    pixels = torch.randn(2, 3, 384, 128, generator=torch.Generator().manual_seed(0))
    plain = small_model.encode_image(pixels)
    acting = build_calibclip(calibration={"dominant_select": "attention"}, **SMALL)
    calibrated = acting.encode_image(pixels, calibrated=True)
    torch.testing.assert_close(calibrated.norm(dim=-1), torch.ones(2))
    assert (plain - calibrated).abs().max() > 1e-4  # the decay on the most attended patches changes it
    off = build_calibclip(calibration={"decay": 1.0, "contrast_alpha": 0.0}, **SMALL)  # CVE off: plain CLS
    torch.testing.assert_close(off.encode_image(pixels, calibrated=True), plain, atol=1e-5, rtol=0)


def test_to_moves_and_tracks_the_device(small_model):
    assert small_model.to("cpu") is small_model
    assert small_model.device == torch.device("cpu") == small_model.backbone.device


def test_load_seed_model_picks_calibclip_or_a_backbone():
    small = dataclasses.replace(SeedConfig(), model=ModelCfg(**SMALL))
    assert load_seed_model(small, "none", "cpu").config.model.vision_width == 128
    assert load_seed_model(dataclasses.replace(small, backbone="tiny:none"), None, "cpu").name == "tiny"
    with pytest.raises(WeightsNotFound, match="no checkpoint for the calibclip model"):
        load_seed_model(small, None, "cpu")
    with pytest.raises(ConfigError, match="--checkpoint applies to the calibclip model"):
        load_seed_model(dataclasses.replace(small, backbone="tiny:none"), "w.pth", "cpu")


def test_quick_gelu_is_part_of_the_architecture(tmp_path):
    """OpenAI weights need QuickGELU (the default); open_clip weights trained with GELU (LAION) need it off."""
    from open_clip.transformer import QuickGELU

    from calibclip import build_calibclip
    from calibclip.errors import CheckpointMismatch

    gelu = build_calibclip(**SMALL, quick_gelu=False)
    assert isinstance(gelu.clip.visual.transformer.resblocks[0].mlp.gelu, torch.nn.GELU)
    assert isinstance(build_calibclip(**SMALL).clip.visual.transformer.resblocks[0].mlp.gelu, QuickGELU)
    path = gelu.save(tmp_path / "gelu.pth")
    assert build_calibclip(pretrained=path).config.model.quick_gelu is False
    with pytest.raises(CheckpointMismatch, match="model.quick_gelu=False, the model asks for True"):
        build_calibclip(pretrained=path, quick_gelu=True)
