"""Person-retrieval loaders/writers: every layout read back, and every bad input → one clear error."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from calibclip.cli.main import main
from calibclip.datasets import build_transforms
from calibclip.datasets.pedes import (LAYOUTS, PedesRecord, detect_layout, iter_pedes_pairs, load_pedes,
                                      write_pedes)
from calibclip.errors import CorruptData, DatasetLayoutError

RECORDS = [
    PedesRecord("train", 0, "a/0.jpg", ("man in red", "red coat man"), (("man", "in", "red"),)),
    PedesRecord("train", 1, "a/1.jpg", ("woman in blue",)),
    PedesRecord("test", 2, "b/2.jpg", ("tall man", "man with bag")),
    PedesRecord("test", 2, "b/3.jpg", ("man, green cap",)),
    PedesRecord("test", 3, "b/4.jpg", ("girl in white", "white dress", "a third caption")),
    PedesRecord("val", 4, "c/5.jpg", ("old man",)),
]


def _dataset(root: Path, layout: str, records=RECORDS) -> Path:
    write_pedes(root, records, layout)
    for rec in records:
        path = root / "imgs" / rec.path
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 24), (rec.pid * 40, 0, 0)).save(path)
    return root


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_round_trip_test_split(tmp_path, layout):
    root = _dataset(tmp_path / layout, layout)
    assert detect_layout(root) == layout
    data = load_pedes(root, "test")
    base = 1 if layout == "cuhkpedes" else 0
    assert data.layout == layout and data.split == "test"
    assert data.image_paths == [root / "imgs" / p for p in ("b/2.jpg", "b/3.jpg", "b/4.jpg")]
    assert data.image_pids.tolist() == [2 + base, 2 + base, 3 + base]
    assert data.captions == ["tall man", "man with bag", "man, green cap", "girl in white", "white dress",
                             "a third caption"]
    assert data.caption_image_index.tolist() == [0, 0, 1, 2, 2, 2]
    assert np.array_equal(data.caption_pids, data.image_pids[data.caption_image_index])
    assert data.num_ids == 2


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_train_pairs_and_val(tmp_path, layout):
    root = _dataset(tmp_path, layout)
    base = 1 if layout == "cuhkpedes" else 0
    pairs = list(iter_pedes_pairs(root))
    assert [(p.name, c, pid - base) for p, c, pid in pairs] == [
        ("0.jpg", "man in red", 0), ("0.jpg", "red coat man", 0), ("1.jpg", "woman in blue", 1)]
    assert load_pedes(root, "val", layout=layout).captions == ["old man"]


def test_written_files_match_the_real_formats(tmp_path):
    _dataset(tmp_path / "c", "cuhkpedes")
    _dataset(tmp_path / "r", "rstpreid")
    _dataset(tmp_path / "s", "annotations")
    cuhk = json.loads((tmp_path / "c" / "reid_raw.json").read_text())
    assert cuhk[0] == {"split": "train", "captions": ["man in red", "red coat man"], "file_path": "a/0.jpg",
                       "processed_tokens": [["man", "in", "red"]], "id": 1}
    assert list(cuhk[0]) == ["split", "captions", "file_path", "processed_tokens", "id"]
    rstp = json.loads((tmp_path / "r" / "data_captions.json").read_text())
    assert rstp[2] == {"id": 2, "img_path": "b/2.jpg", "captions": ["tall man", "man with bag"], "split": "test"}
    seed = json.loads((tmp_path / "s" / "annotations" / "val.json").read_text())
    assert seed == [{"id": 4, "file_path": "c/5.jpg", "captions": ["old man"]}]


def test_no_layout_names_the_files_looked_for(tmp_path):
    (tmp_path / "CUHK-PEDES").mkdir()
    with pytest.raises(DatasetLayoutError) as err:
        load_pedes(tmp_path)
    assert ("no reid_raw.json, ICFG-PEDES.json, data_captions.json or annotations/{train,val,test}.json in"
            in str(err.value))
    assert "CUHK-PEDES" in err.value.one_line()  # the hint points at the dataset folder inside
    with pytest.raises(DatasetLayoutError, match="dataset folder not found"):
        load_pedes(tmp_path / "nope")


def test_missing_images_named_with_count(tmp_path):
    root = _dataset(tmp_path, "rstpreid")
    (root / "imgs" / "b" / "3.jpg").unlink()
    (root / "imgs" / "b" / "4.jpg").unlink()
    with pytest.raises(DatasetLayoutError, match=r"2 of 3 images missing, first: .*b/3\.jpg"):
        load_pedes(root, "test")


def test_empty_split_and_unknown_split(tmp_path):
    root = _dataset(tmp_path, "icfgpedes", [r for r in RECORDS if r.split != "test"])
    with pytest.raises(DatasetLayoutError, match="split 'test' of .* has no images"):
        load_pedes(root, "test", layout="icfgpedes")
    with pytest.raises(DatasetLayoutError, match="unknown split 'query'"):
        load_pedes(root, "query", layout="icfgpedes")
    with pytest.raises(DatasetLayoutError, match="unknown dataset layout 'market'"):
        load_pedes(root, layout="market")


def test_missing_per_split_annotation_file(tmp_path):
    root = _dataset(tmp_path, "annotations")
    (root / "annotations" / "val.json").unlink()
    (root / "annotations" / "test.json").unlink()
    assert [p.name for p, _, _ in iter_pedes_pairs(root)] == ["0.jpg", "0.jpg", "1.jpg"]  # train-only is fine
    with pytest.raises(DatasetLayoutError, match=r"annotation file not found: .*val\.json"):
        load_pedes(root, "val")


@pytest.mark.parametrize("text, match", [
    ('[{"split": "test", "captions": ["x"]', "malformed JSON"),
    ('{"split": "test"}', "must hold a JSON list"),
    ('[3]', "record 0 is not an object"),
    ('[{"split": "dev", "captions": ["x"], "img_path": "a.jpg", "id": 1}]', "has split 'dev'"),
    ('[{"split": "test", "captions": ["x"], "id": 1}]', "has no 'img_path'"),
    ('[{"split": "test", "captions": ["x"], "img_path": "a.jpg", "id": "p1"}]', "non-integer id 'p1'"),
    ('[{"split": "test", "captions": "x", "img_path": "a.jpg", "id": 1}]', "no list of caption strings"),
])
def test_malformed_annotations_are_corrupt_data(tmp_path, text, match):
    (tmp_path / "data_captions.json").write_text(text)
    with pytest.raises(CorruptData, match=match):
        load_pedes(tmp_path)


def test_cli_error_is_one_line(tmp_path, capsys):
    (tmp_path / "reid_raw.json").write_text("[")
    assert main(["synth", "pedes", "--out", str(tmp_path / "x"), "--layouts", "cuhk"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown pedes layout(s) ['cuhk']") and "\n" not in err


def test_build_transforms_matches_manual_pipeline():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 20, 3), dtype=np.uint8))
    out = build_transforms(is_train=False)(image)
    resized = np.asarray(image.resize((128, 384), Image.BICUBIC), dtype=np.float32) / 255
    mean, std = np.array([0.48145466, 0.4578275, 0.40821073]), np.array([0.26862954, 0.26130258, 0.27577711])
    expected = torch.from_numpy(((resized - mean) / std).transpose(2, 0, 1)).float()
    assert out.shape == (3, 384, 128)
    assert torch.allclose(out, expected, atol=0.02)
    torch.manual_seed(0)
    train = build_transforms(is_train=True, image_size=(64, 32))(image)
    assert train.shape == (3, 64, 32)
