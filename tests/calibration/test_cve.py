import pytest
import torch
import torch.nn.functional as F

from calibclip.calibration.cve import calibrate_images, dominant_mask
from calibclip.config import CalibrationConfig
from calibclip.datasets.images import open_image
from calibclip.errors import ConfigError


def _attention(grid_values: list[list[float]], prefix: float = 0.5) -> torch.Tensor:
    return torch.tensor([[prefix] + [v for row in grid_values for v in row]])


# 4×4 grid: a uniformly high 2×3 region (0.1) top-left, a lone peak (0.08) bottom-right, background 0.01.
REGION_VS_PEAK = [[0.10, 0.10, 0.10, 0.01],
                  [0.10, 0.10, 0.10, 0.01],
                  [0.01, 0.01, 0.01, 0.01],
                  [0.01, 0.01, 0.01, 0.08]]


def test_neighbourhood_contrast_picks_the_peak_not_the_region():
    attention = _attention(REGION_VS_PEAK)
    assert int(attention[0, 1:].argmax()) == 0  # raw attention would pick the region
    mask = dominant_mask(attention, (4, 4), 1, ratio=1 / 16, neighbourhood=3)
    assert mask[0].nonzero().flatten().tolist() == [16]  # peak (3,3) → token 1 + 15; contrast .08-.01
    # second largest contrast: region corner (1,2): .1 - (3·.1 + 5·.01)/8 = .05625 → token 1 + 6
    mask = dominant_mask(attention, (4, 4), 1, ratio=2 / 16, neighbourhood=3)
    assert mask[0].nonzero().flatten().tolist() == [7, 16]


def test_borders_use_the_neighbours_that_exist():
    # 2×2 grid: every patch has the 3 others as neighbours; contrasts 1-3=-2, 2-8/3, 3-7/3, 4-2=+2
    mask = dominant_mask(_attention([[1.0, 2.0], [3.0, 4.0]], prefix=9.0), (2, 2), 1, ratio=0.5)
    assert mask[0].tolist() == [False, False, False, True, True]


def test_at_least_one_patch_and_prefix_never_dominant():
    attention = _attention([[0.2] * 3] * 3, prefix=0.9)  # flat grid: all contrasts tie
    mask = dominant_mask(attention.repeat(2, 1), (3, 3), 1, ratio=0.01)
    assert mask.sum(dim=1).tolist() == [1, 1]
    assert mask[:, 1].all() and not mask[:, 0].any()  # tie → lowest patch index


def test_two_prefix_tokens_are_skipped():
    attention = torch.tensor([[0.3, 0.3] + [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
    mask = dominant_mask(attention, (3, 3), 2, ratio=0.1)
    assert mask[0].nonzero().flatten().tolist() == [6]


@pytest.mark.parametrize("ratio,neighbourhood,word", [(0.0, 3, "dominant_ratio"), (1.2, 3, "dominant_ratio"),
                                                      (0.1, 4, "neighbourhood"), (0.1, 1, "neighbourhood")])
def test_bad_mask_knobs(ratio, neighbourhood, word):
    with pytest.raises(ConfigError, match=word):
        dominant_mask(_attention(REGION_VS_PEAK), (4, 4), 1, ratio, neighbourhood)


def _pixels(backbone, paths):
    return torch.stack([backbone.preprocess(open_image(p)) for p in paths])


def _reference_cls(backbone, pixels: torch.Tensor, key_scale: torch.Tensor):
    """The tiny model's own last block run on the full sequence, with only the CLS row's attention rescaled."""
    visual = backbone.model.visual
    x = visual.stem(pixels)
    for block in visual.blocks[:-1]:
        x, _ = block(x)
    last = visual.blocks[-1]
    n, length, width = x.shape
    heads = last.attn.heads
    q, k, v = last.attn.qkv(last.ln_1(x)).reshape(n, length, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
    probs = ((q @ k.transpose(-1, -2)) / (width // heads) ** 0.5).softmax(dim=-1).clone()
    cls_row = probs[:, :, 0] * key_scale[:, None]
    probs[:, :, 0] = cls_row / cls_row.sum(dim=-1, keepdim=True)
    y = x + last.attn.out_proj((probs @ v).transpose(1, 2).reshape(n, length, width))
    y = y + last.mlp(last.ln_2(y))
    return F.normalize(visual.head(y[:, 0]), dim=-1), y[:, 1:], last(x)[0][:, 1:]


@torch.no_grad()
def test_calibrated_embedding_matches_a_full_block_reference(tiny_backbone, gallery_paths):
    pixels = _pixels(tiny_backbone, gallery_paths[:3])
    cfg = CalibrationConfig(decay=0.1, dominant_ratio=0.1, contrast_alpha=0.0)
    out = calibrate_images(tiny_backbone, pixels, cfg)
    scale = torch.where(out.dominant, torch.tensor(0.1), torch.tensor(1.0))
    expected, patch_states, plain_patch_states = _reference_cls(tiny_backbone, pixels, scale)
    torch.testing.assert_close(out.calibrated, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(patch_states, plain_patch_states)  # only the CLS path changed
    torch.testing.assert_close(out.original, tiny_backbone.encode_image(pixels), atol=1e-5, rtol=0)
    assert (out.calibrated - out.original).norm(dim=1).min() > 1e-3  # decay 0.1 really moves the embedding
    rows, cols = out.grid
    assert out.dominant.sum(dim=1).tolist() == [max(1, int(0.1 * rows * cols + 0.5))] * 3


@torch.no_grad()
def test_decay_one_gives_the_original_embedding(tiny_backbone, gallery_paths):
    pixels = _pixels(tiny_backbone, gallery_paths[:4])
    out = calibrate_images(tiny_backbone, pixels, CalibrationConfig(decay=1.0, contrast_alpha=0.0))
    assert torch.equal(out.calibrated, out.original)  # decay 1 reuses the original: "CVE off" is bit-exact
    recomputed = tiny_backbone.image_from_tokens(pixels, torch.ones_like(out.cls_attention))
    torch.testing.assert_close(recomputed, out.original, atol=1e-6, rtol=0)  # and the recomputation agrees


@torch.no_grad()
def test_contrast_form(tiny_backbone, gallery_paths):
    pixels = _pixels(tiny_backbone, gallery_paths[:2])
    out = calibrate_images(tiny_backbone, pixels, CalibrationConfig(decay=1.0, contrast_alpha=0.5))
    only = out.dominant.float()
    only[:, 0] = 1.0
    dominant_only, _, _ = _reference_cls(tiny_backbone, pixels, only)
    expected = F.normalize(out.original + 0.5 * (out.original - dominant_only), dim=-1)
    torch.testing.assert_close(out.calibrated, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("field,value", [("decay", 1.5), ("decay", "0.1"), ("contrast_alpha", -1.0)])
def test_bad_cve_knobs(tiny_backbone, gallery_paths, field, value):
    with pytest.raises(ConfigError, match=field):
        calibrate_images(tiny_backbone, _pixels(tiny_backbone, gallery_paths[:1]), CalibrationConfig(**{field: value}))
