"""--min-score: with the bundled tiny model, S = 1 returns present people and nothing for absent ones.

The folder holds generated pedestrians whose dominant garment is red, blue or black;
a caption of one of them is "present", a person in green or white is "absent"
(docs/guides/search-your-photos.md documents S = 1 from this measurement).
"""
import pytest

from calibclip.index.indexer import index_folder
from calibclip.search import Searcher

S = 1.0
PRESENT_COLOURS = ("red", "blue", "black")
ABSENT = ("a woman in a green dress with a yellow handbag", "a man in a white coat and green trousers",
          "a woman wearing a green coat", "a man in a white t-shirt with a purple backpack")


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    from calibclip.backbones import load_backbone
    from calibclip.datasets.synthetic_pedes import draw_people_folder

    root = tmp_path_factory.mktemp("people")
    drawn = draw_people_folder(root / "photos", 40, seed=3, garment_colours=PRESENT_COLOURS)
    backbone = load_backbone("tiny", "cpu")
    index_folder(root / "photos", root / "people.db", backbone, workers=0)
    searcher = Searcher(root / "people.db", backbone=backbone)
    yield searcher, drawn
    searcher.close()


def test_present_people_are_returned_absent_ones_are_not(people):
    searcher, drawn = people
    found = 0
    for path, caption in drawn[:10]:
        hits = searcher.search(caption, k=40, min_score=S).hits
        assert all(h.match >= S for h in hits)
        found += any(h.path == str(path) for h in hits)
    assert found >= 9, f"only {found} of 10 described people returned at S={S}"
    for query in ABSENT:
        assert searcher.search(query, min_score=S).hits == [], query
        assert searcher.search(query, k=1).hits[0].match < S      # without the cutoff something is returned
