import dataclasses

import numpy as np
import pytest
from PIL import Image

from calibclip.calibration.dcc import discriminate_texts
from calibclip.calibration.explain import explain, patch_boxes, render_overlay
from calibclip.config import CalibrationConfig
from calibclip.errors import BadImage


def test_patch_boxes_stretch_the_grid_over_the_image():
    mask = np.array([[False, True], [False, False], [True, False]])
    assert patch_boxes(mask, (20, 30)) == [(10, 0, 20, 10), (0, 20, 10, 30)]


def test_overlay_heat_and_outline():
    image = Image.new("RGB", (20, 20))
    overlay = render_overlay(image, np.array([[0.0, 0.0], [0.0, 1.0]]), [(0, 0, 10, 10)])
    assert overlay.size == (20, 20)
    assert overlay.getpixel((0, 0)) == (0, 255, 255)  # outline of the box
    assert overlay.getpixel((5, 5)) == (0, 0, 0)  # no heat, inside the box
    red, green, blue = overlay.getpixel((19, 19))  # full heat: 60% of (255, 32, 0) over black
    assert red == pytest.approx(153, abs=2) and green == pytest.approx(19, abs=2) and blue == 0


def test_explain_writes_a_png_of_the_image_size(tiny_backbone, draw_people, tmp_path):
    path = draw_people(tmp_path / "img", 1, size=(50, 150))[0]
    cfg = CalibrationConfig(lam=0.4, mask_ratio=0.2, dominant_ratio=0.1, first_stage="calibrated",
                            dominant_select="attention", mask_select="attention")
    text = "a woman in a blue coat with a black bag"
    result = explain(tiny_backbone, text, path, cfg)
    out = tmp_path / "why.png"
    result.overlay.save(out)
    with Image.open(out) as saved:
        assert saved.format == "PNG" and saved.size == (50, 150)
    rows, cols = tiny_backbone.model.visual.grid
    assert len(result.dominant_boxes) == max(1, int(0.1 * rows * cols + 0.5))
    assert all(0 <= l < r <= 50 and 0 <= t < b <= 150 for l, t, r, b in result.dominant_boxes)
    expected = discriminate_texts(tiny_backbone, [text], cfg)
    assert result.masked_words == expected.masked_words[0] and result.masked_text == expected.masked_texts[0]
    assert result.s_final == pytest.approx(0.6 * result.s_first + 0.4 * result.s_disc, abs=1e-6)
    plain = explain(tiny_backbone, text, path, dataclasses.replace(cfg, first_stage="original"))
    assert plain.s_first == pytest.approx(plain.s_orig, abs=1e-6) and plain.s_orig == pytest.approx(result.s_orig)
    assert result.s_first != pytest.approx(result.s_orig, abs=1e-6)  # stage 1 used the CVE image


def test_explain_refuses_an_unreadable_image(tiny_backbone, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    with pytest.raises(BadImage, match="bad.png"):
        explain(tiny_backbone, "a man", bad)
