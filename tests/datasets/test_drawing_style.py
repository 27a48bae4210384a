"""Drawing style families: disjoint, recorded in synth_meta.json, and the named colour stays the colour drawn."""
import json
import random
from pathlib import Path

import numpy as np
import pytest

from calibclip.datasets import drawing_style
from calibclip.datasets.draw_person import (HAIR, HAIR_SHADES, PALETTE, SHADES, View, render_person, sample_style,
                                            styled_view)
from calibclip.datasets.draw_scene import PALETTE as SCENE_PALETTE, SHADES as SCENE_SHADES, render
from calibclip.datasets.scene_graph import random_scene
from calibclip.datasets.synthetic_pedes import PedesOptions, generate_pedes, sample_person
from calibclip.errors import ConfigError

PLAIN = View(scale=1.0, dx=0, dy=0, arm_swing=0.0, leg_spread=0, bag_side=1, background="plain",
             background_rgb=(90, 90, 90), brightness=1.0, noise=0.0, camera=1)


@pytest.mark.parametrize("table, shades", [(PALETTE, SHADES), (HAIR, HAIR_SHADES), (SCENE_PALETTE, SCENE_SHADES)])
def test_every_shade_stays_nearest_its_name_and_families_are_disjoint(table, shades):
    distances = {}
    for family, per_colour in shades.items():
        assert set(per_colour) == set(table)
        for name, variants in per_colour.items():
            assert len(variants) == 4
            for rgb in variants:
                assert drawing_style.nearest_margin(np.array(rgb, float), name, table) >= 12.0, (family, name, rgb)
            distances.setdefault(family, []).extend(
                np.linalg.norm(np.subtract(variants, table[name]), axis=1).tolist())
    assert max(distances["train"]) <= 16.5 < 21.5 <= min(distances["heldout"])


def test_sampled_style_families_never_overlap():
    rng = np.random.default_rng(0)
    styles = {family: [sample_style(rng, family) for _ in range(300)] for family in ("train", "heldout")}
    for key in ("head", "torso", "legs", "width"):
        train = [getattr(s, key) for s in styles["train"]]
        held = [getattr(s, key) for s in styles["heldout"]]
        inside = [v for v in held if min(train) <= v <= max(train)]
        assert not inside, key
    assert max(abs(s.lean) for s in styles["train"]) < min(abs(s.lean) for s in styles["heldout"])
    for key in ("outline", "shading", "background"):
        assert not {getattr(s, key) for s in styles["train"]} & {getattr(s, key) for s in styles["heldout"]}, key
    poses = {f: [styled_view(PLAIN, s, rng) for s in styles[f]] for f in styles}
    assert max(v.leg_spread for v in poses["train"]) < min(v.leg_spread for v in poses["heldout"])
    assert max(abs(v.arm_swing) for v in poses["train"]) < min(abs(v.arm_swing) for v in poses["heldout"])


@pytest.mark.parametrize("family", ["train", "heldout"])
def test_styled_people_show_every_described_colour(family):
    rng = np.random.default_rng(3)
    for _ in range(25):
        person, style = sample_person(rng), sample_style(rng, family)
        pixels = np.asarray(render_person(person, PLAIN, rng, style), dtype=float)
        shades = dict(style.shades)
        drawn = {"hair": HAIR_SHADES[family][person.hair_colour][shades[f"hair:{person.hair_colour}"]]}
        for field in ("garment_colour", "stripes", "lower_colour", "shoes_colour", "bag_colour", "hat_colour",
                      "umbrella"):
            name = getattr(person, field)
            if name:
                drawn[field] = SHADES[family][name][shades[name]]
        for field, rgb in drawn.items():
            near = (np.abs(pixels - rgb).max(axis=2) <= 30).sum()
            assert near >= 40, (field, person, style)


def test_styles_are_recorded_and_classic_has_none(tmp_path):
    summary = generate_pedes(tmp_path / "held", seed=4, ids=9, options=PedesOptions(style="heldout"))
    meta = json.loads(Path(summary["meta"]).read_text())
    assert meta["style"] == "heldout"
    assert {image["style"]["family"] for image in meta["images"]} == {"heldout"}
    assert {image["view"]["background"] for image in meta["images"]} <= {"checker", "dots"}
    classic = json.loads(Path(generate_pedes(tmp_path / "classic", seed=4, ids=9)["meta"]).read_text())
    assert classic["style"] == "classic" and not any("style" in image for image in classic["images"])
    with pytest.raises(ConfigError, match="unknown drawing style 'cartoon'"):
        generate_pedes(tmp_path / "bad", seed=4, ids=9, options=PedesOptions(style="cartoon"))


def test_scene_styles_change_the_drawing_not_the_scene():
    scene = random_scene(random.Random(5))
    classic = np.asarray(render(scene), dtype=float)
    assert np.array_equal(classic, np.asarray(render(scene, "classic"), dtype=float))
    styled = {family: np.asarray(render(scene, family), dtype=float) for family in ("train", "heldout")}
    assert np.array_equal(styled["heldout"], np.asarray(render(scene, "heldout"), dtype=float))  # a pure function
    assert all(np.abs(image - classic).mean() > 0.5 for image in styled.values())
    for key in ("sky", "ground", "filter"):
        seen = {f: {drawing_style.scene_style(seed, f, ("red",))[key] for seed in range(40)}
                for f in ("train", "heldout")}
        assert not seen["train"] & seen["heldout"], key
