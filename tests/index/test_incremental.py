"""Incremental indexing: a second run encodes nothing; adds, edits, touches, moves, copies and deletes
are each handled with the fewest encoder calls (counted by a real backbone subclass)."""
import os
import shutil

import numpy as np

from calibclip.index.indexer import index_folder
from calibclip.index.store import Store


def test_only_changes_are_encoded(tmp_path, counting_backbone, write_images):
    folder, db = tmp_path / "photos", tmp_path / "photos.db"
    paths = write_images(folder, 200, seed=1)
    (folder / "notes.txt").write_text("not a photo")
    first = index_folder(folder, db, counting_backbone, batch_size=32, workers=0)
    assert counting_backbone.encoded == 200
    assert (first.added, first.encoded, first.total, first.ignored) == (200, 200, 200, 1)

    counting_backbone.encoded = 0
    again = index_folder(folder, db, counting_backbone, batch_size=32, workers=0)
    assert counting_backbone.encoded == 0
    assert (again.added, again.updated, again.removed, again.unchanged, again.total) == (0, 0, 0, 200, 200)

    with Store(db) as store:
        before = store.files_under(str(folder))
    new = write_images(folder, 5, seed=2, start=500)                    # 5 new pictures
    for path in paths[:3]:                                               # 3 edited in place
        write_images(tmp_path / "edit", 1, seed=int(path.stem[-3:]) + 900)[0].replace(path)
    for path in paths[3:5]:                                              # 2 touched: same bytes, new mtime
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    for path in paths[5:9]:                                              # 4 deleted
        path.unlink()
    paths[9].rename(folder / "moved.png")                                # 1 moved
    shutil.copy(paths[10], folder / "copy.png")                          # 1 duplicated

    counting_backbone.encoded = 0
    third = index_folder(folder, db, counting_backbone, batch_size=32, workers=0)
    assert counting_backbone.encoded == 5 + 3 == third.encoded
    assert third.reused == 2                                             # moved + copy: stored vectors reused
    assert (third.added, third.updated, third.removed) == (5 + 2, 3, 4 + 1)
    assert third.unchanged == 200 - 3 - 4 - 1
    assert third.total == 200 + 5 - 4 + 1

    with Store(db) as store:
        after = store.files_under(str(folder))
        for path in paths[11:]:                                          # untouched files keep their ids
            assert after[str(path)].id == before[str(path)].id
        for path in paths[3:5]:                                          # touched: same row, new mtime
            assert after[str(path)].id == before[str(path)].id
            assert after[str(path)].mtime_ns == path.stat().st_mtime_ns
        assert after[str(paths[0])].sha256 != before[str(paths[0])].sha256
        moved = store.vectors(after[str(folder / "moved.png")].id)
        original = store.vectors(before[str(paths[9])].id)
        assert original is None                                          # the old path's row is gone
        assert store.record(after[str(folder / "copy.png")].id).sha256 == after[str(paths[10])].sha256
        assert moved.original.dtype == np.float16 and moved.original.shape == (32,)
        assert not set(map(str, new)) - set(after)


def test_workers_decode_in_parallel_with_the_same_vectors(tmp_path, micro_backbone, write_images):
    folder = tmp_path / "photos"
    write_images(folder, 24, seed=3)
    serial = index_folder(folder, tmp_path / "serial.db", micro_backbone, batch_size=5, workers=0)
    parallel = index_folder(folder, tmp_path / "parallel.db", micro_backbone, batch_size=5, workers=2)
    assert serial.encoded == parallel.encoded == 24
    with Store(tmp_path / "serial.db") as a, Store(tmp_path / "parallel.db") as b:
        ids_a, orig_a, cal_a = a.matrices()
        ids_b, orig_b, cal_b = b.matrices()
    assert np.array_equal(orig_a, orig_b) and np.array_equal(cal_a, cal_b)
    assert not np.array_equal(orig_a, cal_a)                              # CVE changed the embedding
