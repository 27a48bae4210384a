import json
import random

import numpy as np
import pytest

from calibclip.composite.clauses import parse_tigr_text
from calibclip.datasets.draw_scene import PALETTE, render
from calibclip.datasets.scene_graph import build_scene, scene_facts, set_fact
from calibclip.datasets.synthetic_tigr import generate_tigr, sample_query, violations
from calibclip.cli.main import main
from calibclip.datasets.lmdb_store import NUM_IMAGES, NUM_SAMPLES, read_count, read_keys
from calibclip.datasets.tigr import iter_pairs, load_tigr
from calibclip.datasets.tigr_phrases import query_clauses
from calibclip.errors import ConfigError, DatasetLayoutError


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth_tigr")
    summary = generate_tigr(root, seed=3, scale="small")
    return root, summary


@pytest.fixture(scope="session")
def meta(synth_root):
    return json.loads((synth_root[0] / "synth_meta.json").read_text(encoding="utf-8"))


def _scene(**person):
    woman = {"gender": "woman", "garment": "dress", "color": "green", "action": "dancing", "hat": None,
             "shoes": False, "umbrella": None, "x": 0.5, **person}
    return {"place": "city_hall", "time": "day", "seed": 1, "people": [woman],
            "objects": [{"kind": "dog", "color": "brown", "x": 0.2}]}


def test_scene_facts_hand_computed():
    assert scene_facts(_scene()) == {
        "woman.wear=green dress", "woman.place=city_hall", "woman.time=day", "woman.action=dancing",
        "dog.left_of=woman", "dog", "dog=brown"}
    facts = scene_facts(_scene(hat="red", shoes=True, umbrella="blue", x=0.1))
    assert {"woman.hat", "woman.hat=red", "woman.shoes", "woman.umbrella", "umbrella", "dog.right_of=woman"} <= facts


def test_set_fact_sets_and_clears():
    rng = random.Random(0)
    for fact in ["woman.wear=red coat", "woman.place=beach", "woman.action=sitting", "woman.hat=blue",
                 "woman.shoes", "umbrella", "car=red", "dog.right_of=woman", "woman.time=night", "bicycle"]:
        scene = _scene()
        set_fact(scene, fact, True, rng)
        assert fact in scene_facts(scene), fact
        set_fact(scene, fact, False, rng)
        assert fact not in scene_facts(scene), fact


def test_build_scene_respects_require_and_forbid():
    rng = random.Random(5)
    for _ in range(50):
        query = sample_query(rng)
        scene = build_scene(rng, set(query["and"]), set(query["not"]))
        assert violations(query, scene_facts(scene)) == 0


def test_query_text_round_trips_through_tigr_parser():
    clauses = query_clauses("woman", ["woman.wear=green dress", "woman.place=city_hall", "woman.action=dancing"],
                            ["woman.shoes"])
    assert clauses.raw == "A woman in a green dress dancing in front of City Hall with no shoes"
    assert clauses.optimized == "A woman in a green dress dancing in front of City Hall"
    assert clauses.and_clauses == ("a woman wearing a green dress", "a woman in front of City Hall", "a woman dancing")
    assert clauses.not_clauses == ("shoes",)
    assert clauses.place == "City Hall"
    zh = query_clauses("woman", ["woman.wear=green dress", "woman.action=dancing"], ["dog"], "zh")
    assert zh.raw == "一个穿绿色连衣裙的女人跳舞，没有狗"
    assert zh.and_clauses == ("穿绿色连衣裙的女人", "跳舞的女人") and zh.not_clauses == ("狗",)


def test_render_draws_the_dress_colour():
    def green_pixels(scene):
        pixels = np.asarray(render(scene), dtype=np.int32)
        return int((np.abs(pixels - np.array(PALETTE["green"])).sum(axis=-1) < 40).sum())

    green = green_pixels(_scene())
    assert green > 300
    assert green_pixels(_scene(color="red")) < 20


def test_summary_counts_and_lmdb_records(synth_root):
    root, summary = synth_root
    assert summary["queries"] == 40 and summary["gallery_images"] == 400 and summary["train_images"] == 200
    assert sorted(p.name for p in root.glob("*.jsonl")) == ["en_synth_tigr.jsonl", "zh_synth_tigr.jsonl"]
    lmdb_dir = root / "lmdb"
    assert read_count(lmdb_dir / "imgs", NUM_IMAGES) == len(read_keys(lmdb_dir / "imgs")) == 400
    assert read_count(lmdb_dir / "train_imgs", NUM_IMAGES) == 200
    assert read_count(lmdb_dir / "pairs", NUM_SAMPLES) == read_count(lmdb_dir / "pairs_zh", NUM_SAMPLES) == 600


def test_pairs_caption_every_scene(synth_root, meta):
    root, _ = synth_root
    en, zh = list(iter_pairs(root)), list(iter_pairs(root, "zh"))
    assert {p[0] for p in en} == set(meta["images"]) and [p[:2] for p in en] == [p[:2] for p in zh]
    assert {p[0] for p in iter_pairs(root, split="train")} == {i for i, r in meta["images"].items()
                                                              if r["split"] == "train"}
    image_id, _, text = en[0]
    scene = meta["images"][image_id]["scene"]
    person = scene["people"][0]
    assert text.startswith(f"A {person['gender']} in ") and f"{person['color']} {person['garment']}" in text


def test_cli_synth_tigr(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["synth", "tigr", "--out", str(out), "--scale", "small", "--lang", "en", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["queries"] == 40
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    assert main(["synth", "tigr", "--out", str(tmp_path / "busy"), "--scale", "small"]) == 2
    assert capsys.readouterr().err.startswith("error: output folder")


def test_relevance_is_exact_over_the_whole_gallery(synth_root, meta):
    root, _ = synth_root
    data = load_tigr(root)
    try:
        assert len(data.gallery_ids) == 400 and data.missing == 0
        gallery_facts = {i: set(meta["images"][i]["facts"]) for i in data.gallery_ids}
        assert all(meta["images"][i]["split"] == "gallery" for i in data.gallery_ids)
        for query in data.queries:
            truth = meta["queries"][query.text_id]
            assert 2 <= len(truth["and"]) <= 4 and len(truth["not"]) <= 2
            assert len(query.clauses.and_clauses) == len(truth["and"])
            assert len(query.clauses.not_clauses) == len(truth["not"])
            hr = {i for i, f in gallery_facts.items() if violations(truth, f) == 0}
            mr = {i for i, f in gallery_facts.items() if violations(truth, f) == 1}
            assert set(query.hr) == hr and set(query.mr) == mr
            assert len(hr) >= 3 and len(mr) >= 3
            for image_id in query.hr:
                assert set(truth["and"]) <= gallery_facts[image_id] and not set(truth["not"]) & gallery_facts[image_id]
    finally:
        data.close()


def test_scene_facts_in_meta_match_scene_graphs(meta):
    for record in meta["images"].values():
        assert set(record["facts"]) == scene_facts(record["scene"])


def test_training_scenes_avoid_held_out_combinations(meta):
    held_out = set(meta["held_out"])
    train = [r for r in meta["images"].values() if r["split"] == "train"]
    assert len(train) == 200 and held_out
    assert not any(set(r["facts"]) & held_out for r in train)


def test_imgs_folder_holds_exactly_the_hr_and_mr_images(synth_root):
    root, _ = synth_root
    data = load_tigr(root)
    relevant = {i for q in data.queries for i in (*q.hr, *q.mr)}
    data.close()
    assert {p.stem for p in (root / "imgs").glob("*.jpg")} == relevant


def test_zh_queries_share_ids_and_images_with_en(synth_root):
    root, _ = synth_root
    en, zh = load_tigr(root, "en"), load_tigr(root, "zh")
    try:
        assert [q.text_id for q in en.queries] == [q.text_id for q in zh.queries]
        assert [(q.hr, q.mr) for q in en.queries] == [(q.hr, q.mr) for q in zh.queries]
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in q.text) for q in zh.queries)
        assert parse_tigr_text(zh.queries[0].text) == zh.queries[0].clauses
    finally:
        en.close()
        zh.close()


def test_same_seed_same_bytes(synth_root, tmp_path):
    root, _ = synth_root
    generate_tigr(tmp_path / "again", seed=3, scale="small", langs=("en",))
    again = tmp_path / "again"
    assert (again / "en_synth_tigr.jsonl").read_bytes() == (root / "en_synth_tigr.jsonl").read_bytes()
    originals = sorted((root / "imgs").glob("*.jpg"))
    assert [p.name for p in originals] == sorted(p.name for p in (again / "imgs").glob("*.jpg"))
    assert all((again / "imgs" / p.name).read_bytes() == p.read_bytes() for p in originals)
    assert not (again / "zh_synth_tigr.jsonl").exists()


def test_other_seed_differs(synth_root, tmp_path):
    root, _ = synth_root
    generate_tigr(tmp_path / "other", seed=4, scale="small", langs=("en",))
    assert (tmp_path / "other" / "en_synth_tigr.jsonl").read_bytes() != (root / "en_synth_tigr.jsonl").read_bytes()


def test_regenerating_replaces_own_output_but_never_foreign_data(tmp_path):
    out = tmp_path / "gen"
    generate_tigr(out, seed=1, scale="small", langs=("en",))
    generate_tigr(out, seed=2, scale="small", langs=("zh",))
    assert not list(out.glob("en_*.jsonl"))
    data = load_tigr(out, "zh")
    assert len(data.queries) == 40
    data.close()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("precious")
    with pytest.raises(DatasetLayoutError, match="not empty"):
        generate_tigr(foreign, seed=1, scale="small")
    assert (foreign / "thesis.txt").read_text() == "precious"


@pytest.mark.parametrize("kwargs", [{"scale": "huge"}, {"langs": ("fr",)}, {"langs": ()}])
def test_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ConfigError):
        generate_tigr(tmp_path / "x", **kwargs)
