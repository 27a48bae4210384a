"""Web-style (salient-only) captions, Chinese person captions and look-alike galleries."""
import json
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from calibclip.datasets.captions_pedes import NOUNS, caption_pair, person_captions
from calibclip.datasets.captions_pedes_zh import COLOUR, HAIR_COLOUR, caption_pair_zh
from calibclip.datasets.draw_person import PALETTE
from calibclip.datasets.scene_graph import random_scene
from calibclip.datasets.synthetic_pedes import PedesOptions, generate_pedes, sample_person
from calibclip.datasets.tigr_phrases import caption, salient_caption

SALIENT_WORDS = {"a", "an", "man", "woman", "young", "guy", "lady", "in", "wearing"}
DETAILS = ("stripes", "lower", "lower_colour", "shoes_colour", "bag", "bag_colour", "hat", "hat_colour", "glasses",
           "umbrella", "hair_colour", "hair_length")


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z-]+", text.lower()))


def _is_salient_en(text: str, person) -> bool:
    """Only the subject, the garment colour and one noun for the garment."""
    garment = {w for noun in NOUNS["garment"][person.garment] for w in noun.split()}
    return _words(text) <= SALIENT_WORDS | garment | {person.garment_colour} and person.garment_colour in text


def test_share_zero_in_english_is_the_detailed_captioner():
    person = sample_person(np.random.default_rng(0))
    assert person_captions(person, np.random.default_rng(9)) == caption_pair(person, np.random.default_rng(9))


@pytest.mark.parametrize("share", [0.5, 0.88])
def test_web_captions_name_only_salient_attributes_at_the_configured_share(share):
    rng = np.random.default_rng(1)
    counts = Counter()
    for _ in range(1500):
        person = sample_person(rng)
        for text in person_captions(person, rng, "en", share):
            counts[_is_salient_en(text, person)] += 1
            if _is_salient_en(text, person):
                colours = [c for c in PALETTE if re.search(rf"\b{c}\b", text)]
                assert colours == [person.garment_colour], text
    measured = counts[True] / sum(counts.values())
    assert abs(measured - share) < 0.025, measured           # 3,000 captions: ~4 standard errors
    detailed = caption_pair(sample_person(rng), rng)
    assert not any(_is_salient_en(text, sample_person(np.random.default_rng(2))) for text in detailed)


def test_chinese_person_captions_name_the_drawn_colours():
    rng = np.random.default_rng(2)
    for _ in range(300):
        person = sample_person(rng)
        first, second = caption_pair_zh(person, rng)
        both = first + second
        for text in (first, second):
            assert COLOUR[person.garment_colour][0] in text and text.endswith("。")
            assert not re.search(r"[a-z]", text.replace("T恤", ""))  # no English left in
        assert HAIR_COLOUR[person.hair_colour] in both
        for field in ("lower_colour", "shoes_colour", "bag_colour", "hat_colour", "umbrella"):
            if getattr(person, field):
                assert COLOUR[getattr(person, field)] in both, (field, both)
        if person.stripes:
            assert COLOUR[person.stripes][0] in both and "条纹" in both
        assert ("眼镜" in both) == person.glasses
        web = person_captions(person, rng, "zh", 1.0)
        for text in web:
            who = "(女人|女子|女士|男人|男子|男士)"
            assert re.fullmatch(rf"(一个|一位)?穿{COLOUR[person.garment_colour]}\w+的{who}", text)
            assert ("女" in text) == (person.gender == "woman")


def test_scene_web_captions_name_the_main_subject_only():
    rng = random.Random(0)
    for _ in range(200):
        scene = random_scene(rng)
        text, zh = salient_caption(scene, rng, "en"), salient_caption(scene, rng, "zh")
        assert len(text.split()) <= 11 and "," not in text and "，" not in zh
        assert len(text) < len(caption(scene, "en"))
        p = scene["people"][0]
        names_person = f"a {p['gender']} in" in text
        assert names_person or any(f"{o['color']} {o['kind']}" in text for o in scene["objects"]), text
        if names_person:
            assert p["color"] in text and p["garment"] in text


def test_lookalike_groups_share_the_salient_concept_and_differ_in_a_detail(tmp_path):
    summary = generate_pedes(tmp_path, seed=6, ids=40, options=PedesOptions(lookalike_group=4))
    meta = json.loads(Path(summary["meta"]).read_text())
    assert meta["lookalike_group"] == 4
    groups: dict[int, list[dict]] = {}
    for ident in meta["identities"]:
        groups.setdefault(ident["group"], []).append(ident)
    assert len(groups) >= 10 and max(len(g) for g in groups.values()) == 4
    for members in groups.values():
        assert len({m["split"] for m in members}) == 1
        salient = {(m["attributes"]["gender"], m["attributes"]["garment"], m["attributes"]["garment_colour"])
                   for m in members}
        assert len(salient) == 1
        details = [tuple(m["attributes"][k] for k in DETAILS) for m in members]
        assert len(set(details)) == len(details)         # no two look-alikes share every detail
    colours = Counter(m["attributes"]["garment_colour"] for g in groups.values() for m in g[:1])
    assert len(colours) >= 3                              # groups differ from each other


def test_cli_synth_pedes_records_every_option(tmp_path, capsys):
    from calibclip.cli.main import main

    args = ["synth", "pedes", "--out", str(tmp_path / "a"), "--ids", "12", "--style", "heldout", "--lang", "zh",
            "--lookalike-group", "3", "--salient-share", "0.5", "--json"]
    assert main(args) == 0
    meta = json.loads(Path(json.loads(capsys.readouterr().out)["meta"]).read_text())
    assert (meta["style"], meta["lang"], meta["lookalike_group"], meta["salient_share"]) == ("heldout", "zh", 3, 0.5)
    captions = [c for image in meta["images"] for c in image["captions"]]
    assert all(re.search(r"[\u4e00-\u9fff]", c) for c in captions)
    assert 0.25 < sum(c.endswith(("人", "子", "士")) for c in captions) / len(captions) < 0.75  # salient-only
    assert main(["synth", "pedes", "--out", str(tmp_path / "b"), "--ids", "9", "--lang", "fr"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fr" in err
