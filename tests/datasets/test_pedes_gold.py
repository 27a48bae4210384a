"""Gold clauses for person captions: one per attribute the caption mentions, with the caption's subject."""
from dataclasses import replace

import numpy as np
import pytest

from calibclip.datasets.captions_pedes import NOUNS, caption_pair
from calibclip.datasets.draw_person import Person
from calibclip.datasets.pedes_gold import caption_gold, pedes_gold
from calibclip.datasets.synthetic_pedes import generate_pedes, sample_person
from calibclip.errors import CorruptData, DatasetLayoutError

WOMAN = Person(gender="woman", hair_colour="brown", hair_length="long", garment="dress", garment_colour="green",
               stripes=None, lower=None, lower_colour=None, shoes_colour="white", bag="handbag",
               bag_colour="black", hat="none", hat_colour=None, glasses=True, umbrella="red")


def test_caption_gold_hand_case():
    caption = ("This lady is wearing a green long dress and is holding a black purse. "
               "She has on spectacles and has long brown hair.")
    gold = caption_gold(caption, WOMAN.to_dict())
    # the umbrella and the shoes are not mentioned, so they have no clause; the purse keeps "holding"
    assert gold.and_clauses == ("a lady wearing a green long dress", "a lady holding a black purse",
                                "a lady wearing spectacles", "a lady with long brown hair")
    assert gold.not_clauses == () and gold.raw == caption


def test_caption_gold_stripes_and_carried_things_without_a_verb():
    striped = replace(WOMAN, stripes="yellow", garment="top", lower="skirt", lower_colour="blue")
    caption = ("The female pedestrian in a green and yellow striped sweater with a blue short skirt, "
               "a black handbag and a red umbrella.")
    assert caption_gold(caption, striped.to_dict()).and_clauses == (
        "a female pedestrian wearing a green and yellow striped sweater", "a female pedestrian wearing a blue short skirt",
        "a female pedestrian with a black handbag", "a female pedestrian with a red umbrella")


def test_caption_gold_one_clause_per_mentioned_attribute_on_generated_captions():
    rng = np.random.default_rng(3)
    for _ in range(200):
        person = sample_person(rng)
        kinds = 3 + bool(person.lower) + (person.bag != "none") + (person.hat != "none") + person.glasses \
            + bool(person.umbrella)
        details: set[str] = set()
        for caption in caption_pair(person, rng):
            gold = caption_gold(caption, person.to_dict())
            subject = caption.split(" ", 1)[1].split(" ")[0]      # "A young woman ..." → "young"
            assert all(c.startswith("a ") and subject.lower() in c for c in gold.and_clauses)
            assert any(person.garment_colour in c and any(n in c for n in NOUNS["garment"][person.garment])
                       for c in gold.and_clauses)
            assert len(gold.and_clauses) <= kinds
            details |= {c.split(" ", 3)[3] for c in gold.and_clauses}
        # the two captions of a photo mention every detail between them
        assert len(details) >= kinds


def test_caption_gold_refuses_captions_it_cannot_read():
    with pytest.raises(CorruptData, match="without a known subject"):
        caption_gold("Someone in a green dress.", WOMAN.to_dict())
    with pytest.raises(CorruptData, match="does not name the person's garment"):
        caption_gold("A woman in a red coat.", WOMAN.to_dict())


def test_pedes_gold_reads_a_generated_set(tmp_path):
    generate_pedes(tmp_path, seed=5, ids=9, layouts=("cuhkpedes",))
    gold = pedes_gold(tmp_path)
    test = pedes_gold(tmp_path, split="test")
    assert 0 < len(test) < len(gold) and len(gold) % 2 == 0
    assert all(len(g.and_clauses) >= 1 and g.not_clauses == () for g in gold)
    with pytest.raises(DatasetLayoutError, match="no synth_meta.json"):
        pedes_gold(tmp_path / "CUHK-PEDES")
