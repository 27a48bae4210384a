"""The method study: shared encodings give the same numbers as each method run on its own; the control's split."""
import numpy as np
import pytest

from calibclip.calibration.retriever import CalibratedRetriever, similarities
from calibclip.composite.rewriters import create_rewriter
from calibclip.composite.search import CompositeSearcher
from calibclip.config import CompositeConfig
from calibclip.datasets.pedes import load_pedes
from calibclip.datasets.pedes_gold import pedes_gold
from calibclip.datasets.synthetic_pedes import generate_pedes
from calibclip.evaluation.method_study import (METHODS, STUDY_VARIANTS, Variant, paired_rows, person_bed,
                                               random_split, score_bed)
from calibclip.types import Clauses


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    out = generate_pedes(tmp_path_factory.mktemp("study"), seed=3, ids=18, layouts=("cuhkpedes",))
    root = out["roots"]["cuhkpedes"]
    return person_bed(load_pedes(root, "test"), pedes_gold(out["out"], "test"))


def test_random_split_keeps_the_words_in_order_with_as_many_chunks_as_and_clauses():
    rng = np.random.default_rng(0)
    clauses = Clauses("a man in a red coat with a black bag", "x", ("a man in a red coat", "a man with a black bag"),
                      ("a hat",))
    split = random_split(clauses, rng)
    assert len(split.and_clauses) == 2 and split.not_clauses == ()
    assert " ".join(split.and_clauses) == clauses.raw
    single = random_split(Clauses("a dog", "a dog", ("a dog",)), rng)
    assert single.and_clauses == ("a dog",)  # not composite: the searcher falls back to the raw query


def test_shared_encodings_equal_each_method_on_its_own(micro_backbone, bed):
    scores = score_bed(micro_backbone, bed, {**METHODS, "gold": Variant("gold")})
    retriever = CalibratedRetriever(micro_backbone)
    gallery = retriever.encode_gallery(bed.images)
    plain = similarities(micro_backbone.embed_texts(bed.queries), gallery.original)
    np.testing.assert_allclose(scores["baseline"], plain, atol=1e-5)
    np.testing.assert_allclose(scores["calibrated"], retriever.score(bed.queries)["calibrated"], atol=1e-5)
    searcher = CompositeSearcher(micro_backbone, CompositeConfig(), create_rewriter("rule"))
    np.testing.assert_allclose(scores["composite"], searcher.score(bed.queries, gallery.original).composite,
                               atol=1e-5)
    with_cal = CompositeSearcher(micro_backbone, CompositeConfig(), create_rewriter("rule"), retriever)
    np.testing.assert_allclose(scores["composite+calibrated"], with_cal.score(bed.queries).composite, atol=1e-5)
    gold = [bed.gold[q] for q in bed.queries]
    assert len(gold) == len(bed.queries)  # every generated caption has its gold decomposition
    np.testing.assert_allclose(scores["gold"], searcher.score(gold, gallery.original).composite, atol=1e-5)
    assert not np.allclose(scores["composite"], scores["baseline"])


def test_paired_rows_take_deltas_per_seed_against_the_first_variant():
    runs = {"baseline": [{"rank1": 50.0, "mAP": 40.0}, {"rank1": 70.0, "mAP": 60.0}],
            "x": [{"rank1": 52.0, "mAP": 41.0}, {"rank1": 73.0, "mAP": 60.0}]}
    rows = paired_rows(runs, ("rank1", "mAP"), ("rank1",))
    assert rows[1]["Δrank1"] == "+2.50 ± 0.50"  # paired: the seeds' different difficulty cancels
    assert rows[1]["_delta_rank1"] == [2.0, 3.0]
    assert rows[0]["rank1"] == "60.00 ± 10.00"


def test_every_study_variant_is_named_once_and_the_methods_come_first():
    assert list(STUDY_VARIANTS)[:4] == list(METHODS) == ["baseline", "calibrated", "composite",
                                                         "composite+calibrated"]
    assert len(set(STUDY_VARIANTS.values())) == len(STUDY_VARIANTS)
