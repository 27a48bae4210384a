"""``calibclip index --ray`` on a local Ray cluster started here: the same database and top-k as a local run."""
import shutil

import numpy as np
import pytest

from calibclip.datasets.synthetic_pedes import draw_people_folder
from calibclip.index.indexer import Indexer
from calibclip.index.store import Store
from calibclip.search import Searcher

ray = pytest.importorskip("ray")
QUERIES = ["a woman in a red coat", "a man with a black bag, no hat", "a person in blue trousers and white shoes"]


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _columns(db):
    with Store(db, create=False) as store:
        files = store.files_under("/")
        ids, original, calibrated = store.matrices()
        paths = [r.path for r in sorted(files.values(), key=lambda r: r.id)]
        return paths, original.astype(np.float32), calibrated.astype(np.float32), store.skipped()


def _top(db, **method):
    with Searcher(db, device="cpu") as searcher:
        return [[hit.path for hit in searcher.search(q, k=5, **method).hits] for q in QUERIES]


def test_ray_job_shards_merge_into_the_same_index(ray_cluster, micro_spec, tmp_path):
    from calibclip.index.distributed import RayIndexer

    folder = tmp_path / "photos"
    draw_people_folder(folder, 20, seed=3)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    shutil.copy(folder / "person_000.jpg", folder / "copy_of_000.jpg")  # same content: encoded once
    local = Indexer(tmp_path / "local.db", micro_spec, device="cpu", batch_size=8, workers=0).run(folder)
    shards = tmp_path / "shards"
    remote = RayIndexer(tmp_path / "ray.db", micro_spec, device="cpu", batch_size=8, workers=2,
                        shards=shards).run(folder)
    assert list(shards.glob("*.parquet"))
    for field in ("added", "encoded", "reused", "total"):
        assert getattr(remote, field) == getattr(local, field), field
    assert (remote.added, remote.total) == (21, 21) and set(remote.skipped) == set(local.skipped) == {
        str(folder / "broken.jpg")}
    want, got = _columns(tmp_path / "local.db"), _columns(tmp_path / "ray.db")
    assert got[0] == want[0] and got[3] == want[3]
    np.testing.assert_allclose(got[1], want[1], atol=2e-3)  # fp16 vectors: other batches, same numbers
    np.testing.assert_allclose(got[2], want[2], atol=2e-3)
    for method in ({}, {"calibrate": True}, {"composite": True}):
        assert _top(tmp_path / "ray.db", **method) == _top(tmp_path / "local.db", **method), method

    # incremental: only the new files go through the Ray job, deleted ones leave the index
    draw_people_folder(tmp_path / "more", 3, seed=9)
    for path in (tmp_path / "more").iterdir():
        shutil.move(path, folder / f"new_{path.name}")
    (folder / "person_001.jpg").unlink()
    again = RayIndexer(tmp_path / "ray.db", micro_spec, device="cpu", batch_size=8, workers=1).run(folder)
    assert (again.added, again.encoded, again.removed, again.total) == (3, 3, 1, 23)


def test_cli_ray_flag_indexes_through_the_running_cluster(ray_cluster, micro_spec, tmp_path, capsys):
    from calibclip.cli.main import main

    draw_people_folder(tmp_path / "photos", 4, seed=1)
    assert main(["index", str(tmp_path / "photos"), "--db", str(tmp_path / "x.db"), "--backbone", micro_spec,
                 "--device", "cpu", "--ray", "--workers", "1", "--json"]) == 0
    assert '"encoded": 4' in capsys.readouterr().out
