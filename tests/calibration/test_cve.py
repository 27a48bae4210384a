import pytest
import torch
import torch.nn.functional as F

from calibclip.calibration.cve import (attention_scale, calibrate_images, dominant_mask, low_information,
                                       patch_pixel_std, token_norm_ratio)
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


def test_attention_selection_takes_the_most_attended_patches():
    mask = dominant_mask(_attention(REGION_VS_PEAK), 1, ratio=2 / 16, select="attention")
    assert mask[0].nonzero().flatten().tolist() == [1, 2]  # ties → lower patch index; prefix never


def test_lowinfo_selection_needs_low_information_and_dominance():
    attention = _attention(REGION_VS_PEAK)
    flat = torch.zeros(1, 16, dtype=torch.bool)
    flat[0, 15] = True  # only the lone peak's patch is low-information
    mask = dominant_mask(attention, 1, ratio=0.25, select="flat", low_info=flat, dominance=1.5)
    assert mask[0].nonzero().flatten().tolist() == [16]  # the peak: .08 ≥ 1.5 × the uniform share (.77 / 16)
    mask = dominant_mask(attention, 1, ratio=0.25, select="flat", low_info=flat, dominance=2.0)
    assert not mask.any()  # not dominant enough: nothing is suppressed (never a forced pick)
    mask = dominant_mask(attention, 1, ratio=0.25, select="flat", low_info=~flat, dominance=1.0)
    assert mask[0].nonzero().flatten().tolist() == [1, 2, 3, 5]  # capped at 25% of 16, most attended first


def test_random_selection_is_seeded_and_counts_the_ratio():
    attention = _attention(REGION_VS_PEAK).repeat(3, 1)
    one = dominant_mask(attention, 1, 0.25, "random", generator=torch.Generator().manual_seed(1))
    two = dominant_mask(attention, 1, 0.25, "random", generator=torch.Generator().manual_seed(1))
    assert torch.equal(one, two) and one.sum(dim=1).tolist() == [4, 4, 4] and not one[:, 0].any()


def test_two_prefix_tokens_are_skipped():
    attention = torch.tensor([[0.3, 0.3] + [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
    mask = dominant_mask(attention, 2, ratio=0.1, select="attention")
    assert mask[0].nonzero().flatten().tolist() == [6]


def test_low_information_is_flat_pixels_or_a_norm_outlier():
    pixels = torch.zeros(1, 3, 4, 4)
    pixels[0, :, :2, :2] = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # textured top-left 2×2 patch
    std = patch_pixel_std(pixels, (2, 2))
    torch.testing.assert_close(std, torch.tensor([[0.5, 0.0, 0.0, 0.0]]))
    hidden = torch.ones(1, 5, 8)
    hidden[0, 1] *= 10.0  # patch 0's token: 10× the median norm
    ratio = token_norm_ratio(hidden, num_prefix=1)
    torch.testing.assert_close(ratio, torch.tensor([[10.0, 1.0, 1.0, 1.0]]))
    assert low_information("register", std, ratio, 0.5, 3.0).tolist() == [[True, False, False, False]]
    assert low_information("register", std, ratio, 0.5, 20.0).tolist() == [[False, False, False, False]]
    assert low_information("flat", std, ratio, 0.5, 3.0).tolist() == [[False, True, True, True]]


def test_adaptive_decay_brings_dominant_patches_down_to_the_median():
    attention = torch.tensor([[0.2, 0.4, 0.1, 0.1, 0.2]])
    mask = torch.tensor([[False, True, False, False, False]])
    scale = attention_scale(attention, mask, 1, decay=0.5, mode="adaptive")
    torch.testing.assert_close(scale, torch.tensor([[1.0, 0.1 / 0.4, 1.0, 1.0, 1.0]]))  # median of .4 .1 .1 .2
    constant = attention_scale(attention, mask, 1, decay=0.5, mode="constant")
    torch.testing.assert_close(constant, torch.tensor([[1.0, 0.5, 1.0, 1.0, 1.0]]))


@pytest.mark.parametrize("ratio,select,word", [(0.0, "attention", "dominant_ratio"),
                                               (1.2, "attention", "dominant_ratio"), (0.1, "peak", "dominant_select")])
def test_bad_mask_knobs(ratio, select, word):
    with pytest.raises(ConfigError, match=word):
        dominant_mask(_attention(REGION_VS_PEAK), 1, ratio, select)


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
    cfg = CalibrationConfig(decay=0.1, dominant_ratio=0.1, contrast_alpha=0.0, dominant_select="attention")
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
    cfg = CalibrationConfig(decay=1.0, contrast_alpha=0.5, dominant_select="attention")
    out = calibrate_images(tiny_backbone, pixels, cfg)
    only = out.dominant.float()
    only[:, 0] = 1.0
    dominant_only, _, _ = _reference_cls(tiny_backbone, pixels, only)
    expected = F.normalize(out.original + 0.5 * (out.original - dominant_only), dim=-1)
    torch.testing.assert_close(out.calibrated, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("field,value", [("decay", 1.5), ("decay", "0.1"), ("contrast_alpha", -1.0),
                                         ("decay_mode", "soft"), ("dominance", -1), ("norm_outlier", 0.5)])
def test_bad_cve_knobs(tiny_backbone, gallery_paths, field, value):
    with pytest.raises(ConfigError, match=field):
        calibrate_images(tiny_backbone, _pixels(tiny_backbone, gallery_paths[:1]), CalibrationConfig(**{field: value}))


@torch.no_grad()
def test_gated_cve_leaves_an_image_without_dominant_tokens_bit_exact(tiny_backbone, gallery_paths):
    pixels = _pixels(tiny_backbone, gallery_paths[:3])
    out = calibrate_images(tiny_backbone, pixels, CalibrationConfig(dominant_select="flat", dominance=1e6))
    assert not out.dominant.any() and torch.equal(out.calibrated, out.original)  # nothing can qualify
    assert out.low_info[:, 1:].sum(dim=1).min() > 0 and not out.low_info[:, 0].any()
    out = calibrate_images(tiny_backbone, pixels, CalibrationConfig())  # random weights: no register tokens
    assert not out.low_info.any() and torch.equal(out.calibrated, out.original)
