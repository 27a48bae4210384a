"""build_calibclip + checkpoint loading: the ViT-B/16 384×128 shape, OpenAI/open_clip/IRRA/our files, bad files."""
import argparse

import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

from calibclip import build_calibclip
from calibclip.backbones.openclip import resize_pos_embed
from calibclip.errors import CheckpointMismatch, CorruptData, WeightsNotFound

# A small CLIP of the seed's shape family (vision heads = width / 64), fast on CPU.
SMALL = dict(embed_dim=32, vision_layers=2, vision_width=128, text_layers=2, text_width=64, text_heads=2)


def _clip(image_size, embed_dim=32, vision_layers=2, vision_width=128, seed=1):
    """An independent open_clip CLIP (the source of a checkpoint), OpenAI-style QuickGELU."""
    torch.manual_seed(seed)
    vision = CLIPVisionCfg(layers=vision_layers, width=vision_width, head_width=64, patch_size=16,
                           image_size=image_size)
    return CLIP(embed_dim, vision, CLIPTextCfg(width=64, heads=2, layers=2), quick_gelu=True).eval()


def _assert_same_weights(model, state, skip=("visual.positional_embedding",)):
    loaded = model.clip.state_dict()
    for key, value in state.items():
        if key not in skip:
            assert torch.equal(loaded[key], value.float()), key


@pytest.fixture(scope="module")
def vit_b16():
    return build_calibclip()


def test_default_build_is_clip_vit_b16_at_384x128(vit_b16):
    clip = vit_b16.clip
    assert tuple(clip.visual.positional_embedding.shape) == (1 + 24 * 8, 768)
    assert tuple(clip.visual.grid_size) == (24, 8)
    assert tuple(clip.visual.conv1.weight.shape) == (768, 3, 16, 16)
    assert len(clip.visual.transformer.resblocks) == 12 and len(clip.transformer.resblocks) == 12
    assert clip.visual.transformer.resblocks[0].attn.num_heads == 12
    assert clip.transformer.resblocks[0].attn.num_heads == 8
    assert tuple(clip.token_embedding.weight.shape) == (49408, 512)
    assert tuple(clip.positional_embedding.shape) == (77, 512)
    assert type(clip.visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    pixels = torch.randn(2, 3, 384, 128)
    image = vit_b16.encode_image(pixels)
    text = vit_b16.encode_text(["a woman in a red dress", "a man with a black backpack"])
    assert image.shape == text.shape == (2, 512)
    torch.testing.assert_close(image.norm(dim=-1), torch.ones(2))


def test_openclip_vit_b16_at_224_loads_with_interpolated_positions(vit_b16, tmp_path):
    import open_clip

    torch.manual_seed(2)
    source = open_clip.create_model("ViT-B-16-quickgelu")  # 224 px: a 14×14 grid
    state = {k: v.half() for k, v in source.state_dict().items()}  # fp16, as OpenAI ships it
    path = tmp_path / "ViT-B-16.bin"
    torch.save(state, path)
    model = build_calibclip(pretrained=path, embed_dim=512, vision_layers=12, text_layers=12)
    want = resize_pos_embed(state["visual.positional_embedding"], (14, 14), (24, 8)).float()
    assert tuple(state["visual.positional_embedding"].shape) == (197, 768)
    assert torch.equal(model.clip.visual.positional_embedding, want)
    _assert_same_weights(model, state)
    assert not torch.equal(model.clip.visual.proj, vit_b16.clip.visual.proj)  # really replaced


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.script/save are deprecated, still OpenAI's format
def test_openai_torchscript_archive_loads(tmp_path):
    source = _clip(224)
    path = tmp_path / "ViT-small.pt"
    torch.jit.save(torch.jit.script(source), str(path))
    model = build_calibclip(pretrained=path, **SMALL)
    state = source.state_dict()
    want = resize_pos_embed(state["visual.positional_embedding"], (14, 14), (24, 8))
    assert torch.equal(model.clip.visual.positional_embedding, want)
    _assert_same_weights(model, state)


def test_irra_checkpoint_loads_base_model_and_ignores_heads(tmp_path):
    source = _clip((384, 128))
    pixels = torch.randn(2, 3, 384, 128)
    with torch.no_grad():
        want = source.encode_image(pixels, normalize=True)
    weights = {f"base_model.{k}": v for k, v in source.state_dict().items()}
    weights.update({"cross_attn.in_proj_weight": torch.randn(192, 64), "mlm_head.dense.weight": torch.randn(64, 64),
                    "classifier.weight": torch.randn(11003, 32), "ln_pre_t.weight": torch.ones(64)})
    path = tmp_path / "best.pth"
    torch.save({"model": weights, "epoch": 60}, path)
    model = build_calibclip(pretrained=path, **SMALL)
    _assert_same_weights(model, source.state_dict(), skip=())  # 24×8 already: positions copied as they are
    torch.testing.assert_close(model.encode_image(pixels), want, atol=1e-6, rtol=0)


def test_openclip_training_checkpoint_with_ddp_prefix_loads(tmp_path):
    source = _clip((384, 128))
    path = tmp_path / "epoch_3.pt"
    torch.save({"epoch": 3, "name": "run", "state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}},
               path)
    _assert_same_weights(build_calibclip(pretrained=path, **SMALL), source.state_dict(), skip=())


def test_our_checkpoint_round_trips_with_its_config(tmp_path):
    model = build_calibclip(calibration={"lam": 0.3, "rerank_k": 7}, **SMALL)
    path = model.save(tmp_path / "ours.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["ours.pt"]  # written aside, then renamed: no leftovers
    again = build_calibclip(pretrained=path)  # architecture and knobs come from the file
    assert again.config == model.config and again.calibration.lam == 0.3
    pixels = torch.randn(1, 3, 384, 128)
    assert torch.equal(again.encode_image(pixels), model.encode_image(pixels))
    with pytest.raises(CheckpointMismatch, match="model.vision_layers=2, the model asks for 12"):
        build_calibclip(pretrained=path, vision_layers=12)


def _one_line(exc_info) -> str:
    line = exc_info.value.one_line()
    assert "\n" not in line
    return line


def test_wrong_shape_names_key_and_both_shapes(tmp_path):
    path = tmp_path / "wide.bin"
    torch.save(_clip((384, 128), embed_dim=48).state_dict(), path)
    with pytest.raises(CheckpointMismatch) as exc:
        build_calibclip(pretrained=path, **SMALL)
    line = _one_line(exc)
    assert "text_projection has shape (64, 48), the model expects (64, 32)" in line


def test_deeper_checkpoint_is_refused_not_half_loaded(tmp_path):
    path = tmp_path / "deep.bin"
    torch.save(_clip((384, 128), vision_layers=3).state_dict(), path)
    with pytest.raises(CheckpointMismatch, match="the model lacks, first: visual.transformer.resblocks.2"):
        build_calibclip(pretrained=path, **SMALL)


def test_non_square_grid_of_another_size_is_refused(tmp_path):
    path = tmp_path / "256x128.bin"
    torch.save(_clip((256, 128)).state_dict(), path)
    with pytest.raises(CheckpointMismatch, match="128 patch positions, not a square grid"):
        build_calibclip(pretrained=path, **SMALL)


def test_unreadable_files(tmp_path):
    with pytest.raises(WeightsNotFound, match="checkpoint not found"):
        build_calibclip(pretrained=tmp_path / "nope.pth", **SMALL)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint" * 10)
    with pytest.raises(CorruptData, match="cannot read checkpoint"):
        build_calibclip(pretrained=garbage, **SMALL)
    pickled = tmp_path / "objects.pth"
    torch.save({"model": {"args": argparse.Namespace(lr=1)}}, pickled)  # arbitrary objects are never unpickled
    with pytest.raises(CorruptData, match="cannot read checkpoint"):
        build_calibclip(pretrained=pickled, **SMALL)
