"""Synthetic pedes generator: real formats read back by the loaders, exact ground truth, honest splits."""
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from calibclip.cli.main import main
from calibclip.datasets.draw_person import HAIR, PALETTE, Person, View, render_person
from calibclip.datasets.pedes import load_pedes
from calibclip.datasets.synthetic_pedes import generate_pedes, sample_person, split_sizes
from calibclip.errors import DatasetLayoutError

ALL_LAYOUTS = ("cuhkpedes", "icfgpedes", "rstpreid", "annotations")


@pytest.fixture(scope="session")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("pedes_small")
    summary = generate_pedes(out, seed=0, scale="small", layouts=ALL_LAYOUTS)
    return summary, json.loads(Path(summary["meta"]).read_text())


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_small_scale_counts(small):
    summary, meta = small
    assert summary["ids"] == {"train": 100, "val": 20, "test": 60} == meta["counts"]["ids"]
    for split in ("train", "val", "test"):
        images = [im for im in meta["images"] if im["split"] == split]
        assert summary["images"][split] == len(images)
        assert summary["captions"][split] == 2 * len(images)
        per_id = Counter(im["pid"] for im in images)
        assert len(per_id) == summary["ids"][split] and set(per_id.values()) <= {2, 3, 4}


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
@pytest.mark.parametrize("split", ["train", "test"])
def test_every_layout_reads_back_the_ground_truth(small, layout, split):
    summary, meta = small
    data = load_pedes(summary["roots"][layout], split)
    assert data.layout == layout
    truth = {im["paths"][layout]: im for im in meta["images"] if im["split"] == split}
    imgs = Path(summary["roots"][layout]) / "imgs"
    assert sorted(str(p.relative_to(imgs)) for p in data.image_paths) == sorted(truth)
    base = meta["id_base"][layout]
    for path, pid in zip(data.image_paths, data.image_pids):
        assert pid == truth[str(path.relative_to(imgs))]["pid"] + base
    for caption, pid, index in zip(data.captions, data.caption_pids, data.caption_image_index):
        image = truth[str(data.image_paths[index].relative_to(imgs))]
        assert caption in image["captions"] and pid == image["pid"] + base == data.image_pids[index]
    assert len(data.captions) == summary["captions"][split] and data.num_ids == summary["ids"][split]


def test_images_are_person_crops(small):
    summary, meta = small
    first = Path(summary["roots"]["rstpreid"]) / "imgs" / meta["images"][0]["paths"]["rstpreid"]
    with Image.open(first) as image:
        assert image.size == (128, 384) and image.mode == "RGB" and image.format == "JPEG"


def test_heldout_pairs_only_in_test(small):
    _, meta = small
    heldout = {tuple(p) for p in meta["heldout_pairs"]}
    pairs = {split: Counter() for split in ("train", "val", "test")}
    for ident in meta["identities"]:
        attrs = ident["attributes"]
        pairs[ident["split"]][(attrs["garment_colour"], attrs["bag_colour"])] += 1
    assert Counter(garment for garment, _ in heldout) == {c: 2 for c in meta["dominant_colours"]}
    assert not heldout & set(pairs["train"]) and not heldout & set(pairs["val"])
    in_test = sum(n for pair, n in pairs["test"].items() if pair in heldout)
    assert in_test >= 30  # at least half of the 60 test identities


def test_identities_unique_and_dominant_colours_shared(small):
    _, meta = small
    described = [json.dumps({k: v for k, v in i["attributes"].items() if k != "skin"}, sort_keys=True)
                 for i in meta["identities"]]
    assert len(set(described)) == len(described)
    test_colours = Counter(i["attributes"]["garment_colour"] for i in meta["identities"] if i["split"] == "test")
    assert set(test_colours) <= set(meta["dominant_colours"]) and len(meta["dominant_colours"]) == 5
    assert min(test_colours.values()) >= 5  # many test people share each big garment colour


def _detail_patterns(a: dict) -> list[str]:
    """Hand-written oracle: how each small detail may be worded in a caption."""
    out = [rf"{a['hair_length']} {a['hair_colour']} hair", rf"{a['shoes_colour']} (shoes|sneakers|boots)"]
    if a["lower"]:
        out.append(rf"{a['lower_colour']} " + {"trousers": "(trousers|pants|jeans)", "shorts": "shorts",
                                               "skirt": "(short )?skirt"}[a["lower"]])
    if a["bag"] != "none":
        out.append(rf"{a['bag_colour']} " + {"backpack": "backpack", "handbag": "(handbag|purse)",
                                             "shoulder bag": "(shoulder )?bag"}[a["bag"]])
    if a["hat"] != "none":
        out.append(rf"{a['hat_colour']} " + {"cap": "(baseball )?cap", "beanie": "(beanie|knit hat)"}[a["hat"]])
    if a["glasses"]:
        out.append(r"(glasses|spectacles)")
    if a["umbrella"]:
        out.append(rf"{a['umbrella']} umbrella")
    if a["stripes"]:
        out.append(rf"{a['stripes']} stripe")
    return out


def test_caption_pairs_cover_every_detail_and_vary(small):
    _, meta = small
    attrs = {i["pid"]: i["attributes"] for i in meta["identities"]}
    partial = 0
    for image in meta["images"]:
        a = attrs[image["pid"]]
        first, second = image["captions"]
        assert first != second
        for caption in (first, second):
            assert a["garment_colour"] in caption and caption.endswith(".")
            assert not re.search(r"\ba [aeiou]", caption)
        for pattern in _detail_patterns(a):
            assert re.search(pattern, f"{first} {second}"), (pattern, image["captions"])
            partial += not (re.search(pattern, first) and re.search(pattern, second))
    assert partial > len(meta["images"])  # single captions usually leave details out
    openings = Counter(c.split(" in ")[0] for im in meta["images"] for c in im["captions"])
    assert len(openings) > 20


CLEAN_VIEW = View(scale=1.0, dx=0, dy=0, arm_swing=0.0, leg_spread=0, bag_side=1, background="plain",
                  background_rgb=(90, 90, 90), brightness=1.0, noise=0.0, camera=1)


def _colour_share(pixels: np.ndarray, rgb) -> float:
    return float((np.abs(pixels - rgb).max(axis=2) <= 15).mean())


def test_every_described_colour_is_visible():
    rng = np.random.default_rng(5)
    for _ in range(60):
        person = sample_person(rng)
        pixels = np.asarray(render_person(person, CLEAN_VIEW, rng), dtype=float)
        described = {"hair_colour": HAIR[person.hair_colour]}
        for field in ("garment_colour", "stripes", "lower_colour", "shoes_colour", "bag_colour", "hat_colour",
                      "umbrella"):
            if getattr(person, field):
                described[field] = PALETTE[getattr(person, field)]
        for field, rgb in described.items():
            assert _colour_share(pixels, rgb) * pixels.shape[0] * pixels.shape[1] >= 40, (field, person)


def test_garment_dominates_and_details_are_small():
    person = Person(gender="woman", hair_colour="black", hair_length="short", garment="coat",
                    garment_colour="red", stripes=None, lower="trousers", lower_colour="blue", shoes_colour="white",
                    bag="handbag", bag_colour="yellow", hat="none", hat_colour=None, glasses=False, umbrella=None)
    pixels = np.asarray(render_person(person, CLEAN_VIEW, np.random.default_rng(0)), dtype=float)

    def share(colour: str) -> float:
        return _colour_share(pixels, PALETTE[colour])

    assert share("red") > 0.12 and 0.002 < share("yellow") < 0.02 and share("white") < 0.02
    assert share("red") > 8 * share("yellow")


def test_deterministic_per_seed_and_seeds_differ(tmp_path):
    runs = [generate_pedes(tmp_path / name, seed=seed, ids=9, layouts=("cuhkpedes", "rstpreid"))
            for name, seed in (("a", 7), ("b", 7), ("c", 8))]
    digests = [_tree_digest(Path(run["out"])) for run in runs]
    images = sum(runs[0]["images"].values())
    assert len(digests[0]) == 2 * images + 3 and digests[0] == digests[1]  # images in 2 layouts, 2 json, meta
    assert digests[0] != digests[2]
    same_names = set(digests[0]) & set(digests[2])
    assert sum(digests[0][n] == digests[2][n] for n in same_names) == 0
    (tmp_path / "a" / "CUHK-PEDES" / "reid_raw.json").unlink()  # as if interrupted after the marker
    (tmp_path / "a" / "synth_meta.json").write_text('{"complete": false}')
    regenerated = generate_pedes(tmp_path / "a", seed=7, ids=9, layouts=("cuhkpedes", "rstpreid"))
    assert _tree_digest(Path(regenerated["out"])) == digests[0]  # re-running over its own (partial) output is fine


def test_split_sizes():
    assert split_sizes("default") == {"train": 600, "val": 100, "test": 200}
    assert split_sizes(ids=9) == {"train": 6, "val": 1, "test": 2}
    assert sum(split_sizes(ids=1000).values()) == 1000


@pytest.mark.parametrize("kwargs, match", [
    ({"layouts": ("cuhk",)}, r"unknown pedes layout\(s\) \['cuhk'\]"),
    ({"layouts": ()}, "unknown pedes layout"),
    ({"ids": 2}, "--ids 2 is too few"),
    ({"scale": "huge"}, "unknown scale 'huge'"),
])
def test_bad_generator_arguments(tmp_path, kwargs, match):
    with pytest.raises(DatasetLayoutError, match=match):
        generate_pedes(tmp_path / "out", **{"ids": 9, **kwargs})


def test_never_overwrites_a_real_dataset(tmp_path):
    real = tmp_path / "CUHK-PEDES"
    real.mkdir()
    (real / "reid_raw.json").write_text("[]")
    with pytest.raises(DatasetLayoutError, match="refusing to overwrite .*CUHK-PEDES"):
        generate_pedes(tmp_path, ids=9)
    assert (real / "reid_raw.json").read_text() == "[]"
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetLayoutError, match="output path is a file"):
        generate_pedes(tmp_path / "file", ids=9)


def test_cli_synth_pedes_json(tmp_path, capsys):
    assert main(["synth", "pedes", "--out", str(tmp_path), "--ids", "9", "--layouts", "icfgpedes", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ids"] == {"train": 6, "val": 1, "test": 2}
    assert load_pedes(summary["roots"]["icfgpedes"], "test").num_ids == 2
