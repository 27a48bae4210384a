"""Qdrant (local mode) as the vector store: the same top-k as the local index, for every method."""
import pytest

from calibclip.datasets.synthetic_pedes import draw_people_folder
from calibclip.index.indexer import Indexer
from calibclip.search import Searcher

pytest.importorskip("qdrant_client")
QUERIES = ["a woman in a red coat", "a man with a black bag, no hat", "a person in blue trousers and white shoes"]


@pytest.fixture(scope="module")
def index(micro_spec, tmp_path_factory):
    root = tmp_path_factory.mktemp("qdrant")
    draw_people_folder(root / "photos", 30, seed=4)
    Indexer(root / "photos.db", micro_spec, device="cpu", batch_size=16, workers=0).run(root / "photos")
    return root


def _hits(searcher, method):
    return [[(hit.id, hit.path, round(hit.score, 5), hit.baseline_rank)
             for hit in searcher.search(q, k=8, **method).hits] for q in QUERIES]


@pytest.mark.parametrize("method", [{}, {"calibrate": True}, {"composite": True},
                                    {"composite": True, "calibrate": True}])
def test_qdrant_candidates_rerank_to_the_local_top_k(index, method):
    from calibclip.vectordb import QdrantSearcher, export_to_qdrant, qdrant_client

    client = qdrant_client(index / "photos.qdrant")
    try:
        assert export_to_qdrant(index / "photos.db", client) == 30
        with Searcher(index / "photos.db", device="cpu") as local, \
                QdrantSearcher(index / "photos.db", client, device="cpu") as remote:
            assert _hits(remote, method) == _hits(local, method)
    finally:
        client.close()


def test_qdrant_candidate_set_is_what_qdrant_returns(index):
    from calibclip.vectordb import QdrantSearcher, export_to_qdrant, qdrant_client

    client = qdrant_client(":memory:")
    export_to_qdrant(index / "photos.db", client)
    with QdrantSearcher(index / "photos.db", client, device="cpu") as remote:
        result = remote.search(QUERIES[0], k=3, calibrate=True)
        assert result.searched == 30 and len(result.hits) == 3 and result.masked_words is not None
        with pytest.raises(Exception, match="no collection"):
            QdrantSearcher(index / "photos.db", client, collection="missing", device="cpu")


def test_fewer_candidates_than_images_still_give_the_exact_plain_and_calibrated_top_k(index):
    import dataclasses

    import calibclip.vectordb as vectordb

    client = vectordb.qdrant_client(":memory:")
    vectordb.export_to_qdrant(index / "photos.db", client)
    with Searcher(index / "photos.db", device="cpu") as local:
        cfg = dataclasses.replace(local.cfg, rerank_k=4)
    with Searcher(index / "photos.db", device="cpu", calibration=cfg) as local, \
            vectordb.QdrantSearcher(index / "photos.db", client, candidates=10, device="cpu",
                                    calibration=cfg) as remote:
        for method in ({}, {"calibrate": True}):
            assert remote.search(QUERIES[1], k=4, **method).searched == 10
            got = [(h.id, round(h.score, 5), h.baseline_rank) for h in remote.search(QUERIES[1], k=4, **method).hits]
            want = [(h.id, round(h.score, 5), h.baseline_rank) for h in local.search(QUERIES[1], k=4, **method).hits]
            assert got == want, method


def test_cli_exports_then_searches_through_qdrant(index, capsys):
    import json

    from calibclip.cli.main import main

    store = str(index / "cli.qdrant")
    assert main(["export-qdrant", "--db", str(index / "photos.db"), "--qdrant", store, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 30
    args = ["search", QUERIES[2], "--db", str(index / "photos.db"), "--device", "cpu", "-k", "5", "--calibrate",
            "--json"]
    assert main(args) == 0
    local = json.loads(capsys.readouterr().out)
    assert main([*args, "--qdrant", store]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert [h["path"] for h in remote["hits"]] == [h["path"] for h in local["hits"]] and len(local["hits"]) == 5
    assert main(["search", "x", "--db", str(index / "photos.db"), "--qdrant", store, "--collection", "nope"]) == 2
    assert "no collection 'nope'" in capsys.readouterr().err
