"""The database file: WAL, schema version and migrations, producer record, one writer at a time."""
import sqlite3

import pytest

from calibclip.errors import CorruptData, IndexBusy, IndexMismatch
from calibclip.index import store as store_module
from calibclip.index.indexer import index_folder
from calibclip.index.producer import Producer, describe, weights_fingerprint
from calibclip.index.relevance import REFERENCE_CAPTIONS, reference_hash, reference_statistics
from calibclip.index.store import VERSION, Store, writer_lock
from calibclip.search import Searcher


@pytest.fixture
def indexed(tmp_path, micro_backbone, write_images):
    write_images(tmp_path / "photos", 6, seed=9)
    index_folder(tmp_path / "photos", tmp_path / "photos.db", micro_backbone, workers=0)
    return tmp_path / "photos.db"


def test_new_database_is_wal_versioned_and_records_its_producer(indexed, micro_backbone):
    with Store(indexed) as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == VERSION
        producer = Producer.from_dict(store.producer())
    assert producer.backbone == micro_backbone.spec.raw and producer.dim == 32 and producer.grid == (4, 4)
    assert producer.weights == weights_fingerprint(micro_backbone)
    assert producer.calibration["cve_enabled"] is True and len(producer.calibration_hash) == 64
    assert producer == describe(micro_backbone, producer.calibration_config())
    assert producer.reference == reference_hash()


def test_reference_statistics_are_stored_per_image(indexed, micro_backbone):
    import numpy as np
    import torch

    with Store(indexed) as store:
        _, original, _, stats = store.rows()
    reference = micro_backbone.embed_texts(list(REFERENCE_CAPTIONS))
    mean, std = reference_statistics(reference, torch.from_numpy(original.astype(np.float32)))
    assert stats.shape == (6, 2)
    assert np.allclose(stats[:, 0], mean, atol=1e-6) and np.allclose(stats[:, 1], std, atol=1e-6)


def test_migrations_run_in_order_and_a_newer_schema_is_refused(tmp_path, monkeypatch):
    ran = []
    steps = [*store_module.MIGRATIONS, (VERSION + 1, lambda db: ran.append(VERSION + 1) or db.execute(
        "ALTER TABLE images ADD COLUMN rating INTEGER")), (VERSION + 2, lambda db: ran.append(VERSION + 2))]
    monkeypatch.setattr(store_module, "MIGRATIONS", steps)
    monkeypatch.setattr(store_module, "VERSION", VERSION + 2)
    Store(tmp_path / "old.db").close()
    assert ran == [VERSION + 1, VERSION + 2]
    monkeypatch.undo()
    with pytest.raises(IndexMismatch, match=f"schema version {VERSION + 2}, this calibclip reads up to {VERSION}"):
        Store(tmp_path / "old.db")


def test_foreign_and_missing_files_are_one_line(tmp_path):
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE x (y)").connection.commit()
    with pytest.raises(CorruptData, match="not a calibclip index"):
        Store(tmp_path / "other.db")
    (tmp_path / "junk.db").write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(CorruptData, match="cannot open index database"):
        Store(tmp_path / "junk.db")
    with pytest.raises(CorruptData, match="index database not found"):
        Searcher(tmp_path / "absent.db")


def test_another_backbone_is_refused_before_loading_it(indexed, tmp_path):
    with pytest.raises(IndexMismatch, match="was made by backbone 'tiny:.*micro.pt', not 'openclip:ViT-B-16:none'"):
        index_folder(tmp_path / "photos", indexed, "openclip:ViT-B-16:none")


def test_other_weights_under_the_same_spec_are_refused(indexed, tmp_path, micro_spec):
    import torch

    from calibclip.backbones import load_backbone

    changed = load_backbone(micro_spec, "cpu")       # same spec string, then the weights change
    with torch.no_grad():
        next(changed.model.parameters()).add_(1.0)
    with pytest.raises(IndexMismatch, match="other weights"):
        index_folder(tmp_path / "photos", indexed, changed)
    with pytest.raises(IndexMismatch, match="other weights"):
        Searcher(indexed, backbone=changed)


def test_one_writer_at_a_time(indexed):
    with writer_lock(indexed):
        with pytest.raises(IndexBusy, match="another 'calibclip index' is writing"):
            with writer_lock(indexed):
                pass
