"""SIGKILL an index run at several points: the database always opens, the next run completes,
nothing is lost and nothing is duplicated."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

from calibclip.cli.main import main
from calibclip.index.store import Store


def _rows(db) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM images").fetchone()[0]
    except sqlite3.Error:  # not created yet, or no table yet
        return 0


def _index_and_kill(db, folder, spec, at_rows: int) -> int:
    """Start ``calibclip index`` and SIGKILL it once ``at_rows`` rows are committed → rows at the kill."""
    command = [sys.executable, "-m", "calibclip.cli.main", "index", str(folder), "--db", str(db), "--backbone", spec,
               "--batch-size", "2", "--workers", "0"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while proc.poll() is None and _rows(db) < at_rows and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return _rows(db)


def test_sigkill_at_several_points_then_resume(tmp_path, micro_spec, write_images):
    folder, db = tmp_path / "photos", tmp_path / "photos.db"
    paths = write_images(folder, 90, seed=11)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    at_kill = [_index_and_kill(db, folder, micro_spec, 0),     # while starting up, before any batch
               _index_and_kill(db, folder, micro_spec, 30)]
    for path in paths[:10]:                                     # then the folder changes under it
        path.unlink()
    write_images(folder, 10, seed=12, start=1000)
    at_kill.append(_index_and_kill(db, folder, micro_spec, 60))
    assert at_kill == sorted(at_kill) and 0 < at_kill[1] < 90, at_kill   # part-way; nothing committed lost
    with Store(db) as store:                                    # opens, and is sound, after the kills
        assert store.integrity_check() == "ok"
    assert main(["index", str(folder), "--db", str(db), "--backbone", micro_spec, "--workers", "0"]) == 0
    with Store(db) as store:
        assert store.integrity_check() == "ok"
        assert store.count() == 90
        assert store.db.execute("SELECT count(DISTINCT path), count(DISTINCT sha256) FROM images").fetchone() == \
            (90, 90)
        indexed = store.files_under(str(folder))
        assert not any(str(p) in indexed for p in paths[:10])
        assert list(store.skipped()) == [str(folder / "broken.jpg")]
