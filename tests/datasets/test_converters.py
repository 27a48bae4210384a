import csv
import json

import pytest
from PIL import Image

from calibclip.cli.main import main
from calibclip.datasets.converters import convert_dataset
from calibclip.datasets.tigr import iter_pairs, load_tigr
from calibclip.errors import CorruptData, DatasetLayoutError


def _image(path, color, fmt="JPEG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 12), color).save(path, format=fmt)


def _load(out, lang="en"):
    data = load_tigr(out, lang)
    data.close()
    return data


@pytest.fixture()
def karpathy(tmp_path):
    """A COCO-style Karpathy json: 2 test images (one missing on disk), 1 val, 1 corrupt test image."""
    src = tmp_path / "coco"
    _image(src / "val2014" / "COCO_val2014_1.jpg", (255, 0, 0))
    _image(src / "val2014" / "COCO_val2014_2.jpg", (0, 255, 0))
    (src / "val2014" / "COCO_val2014_4.jpg").write_bytes(b"not a jpeg at all")
    images = [
        {"filepath": "val2014", "filename": "COCO_val2014_1.jpg", "split": "test", "cocoid": 1,
         "sentences": [{"raw": "A red square."}, {"raw": "Something | red"}]},
        {"filepath": "val2014", "filename": "COCO_val2014_2.jpg", "split": "val", "cocoid": 2,
         "sentences": [{"raw": "A green square."}]},
        {"filepath": "val2014", "filename": "COCO_val2014_3.jpg", "split": "test", "cocoid": 3,
         "sentences": [{"raw": "A missing file."}]},
        {"filepath": "val2014", "filename": "COCO_val2014_4.jpg", "split": "test", "cocoid": 4,
         "sentences": [{"raw": "A corrupt file."}]},
    ]
    (src / "dataset_coco.json").write_text(json.dumps({"images": images, "dataset": "coco"}))
    return src


def test_karpathy_test_split(karpathy, tmp_path):
    out = tmp_path / "out"
    summary = convert_dataset("coco", karpathy / "dataset_coco.json", out, split="test")
    assert summary["images"] == 1 and summary["queries"] == 2
    assert summary["skipped"] == {"missing": 1, "unreadable": 1} and summary["skipped_images"] == 2
    data = _load(out)
    assert data.gallery_ids == ["COCO_val2014_1"]
    assert [q.text for q in data.queries] == ["A red square.", "Something / red"]
    assert [q.clauses.raw for q in data.queries] == ["A red square.", "Something / red"]
    assert data.gains() == [{0: 1.0}, {0: 1.0}]
    assert [p[2] for p in iter_pairs(out)] == ["A red square.", "Something / red"]
    assert (out / "imgs" / "COCO_val2014_1.jpg").read_bytes() == (karpathy / "val2014" / "COCO_val2014_1.jpg").read_bytes()


def test_karpathy_folder_src_all_splits_and_stable_ids(karpathy, tmp_path):
    a = convert_dataset("coco", karpathy, tmp_path / "a", split="all")
    assert a["images"] == 2
    convert_dataset("coco", karpathy, tmp_path / "b", split="all")
    assert (tmp_path / "a" / "en_coco.jsonl").read_bytes() == (tmp_path / "b" / "en_coco.jsonl").read_bytes()


def test_karpathy_errors(karpathy, tmp_path):
    with pytest.raises(DatasetLayoutError, match="split 'train'") as info:
        convert_dataset("coco", karpathy, tmp_path / "o", split="train")
    assert "(splits present: test, val)" in info.value.one_line()
    with pytest.raises(DatasetLayoutError, match="dataset_flickr30k.json"):
        convert_dataset("flickr30k", karpathy, tmp_path / "o")
    (karpathy / "dataset_coco.json").write_text('{"images": 3')
    with pytest.raises(CorruptData, match="Karpathy"):
        convert_dataset("coco", karpathy, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_flickr_with_separate_image_root(tmp_path):
    _image(tmp_path / "flickr30k-images" / "1000.jpg", (0, 0, 255))
    ann = tmp_path / "ann" / "dataset_flickr30k.json"
    ann.parent.mkdir()
    ann.write_text(json.dumps({"images": [{"filename": "1000.jpg", "split": "test", "imgid": 0,
                                           "sentences": [{"raw": "blue"}, {"raw": "  very   blue "}]}]}))
    summary = convert_dataset("flickr30k", ann, tmp_path / "out", images=tmp_path / "flickr30k-images")
    assert summary["images"] == 1
    assert [q.text for q in _load(tmp_path / "out").queries] == ["blue", "very blue"]


def test_urban1k_layout(tmp_path):
    src = tmp_path / "Urban1k"
    _image(src / "image" / "1.jpg", (10, 10, 10))
    _image(src / "image" / "2.png", (200, 200, 200), fmt="PNG")
    _image(src / "image" / "3.jpg", (50, 50, 50))
    (src / "caption").mkdir()
    (src / "caption" / "1.txt").write_text("A long\ncaption about a dark scene.")
    (src / "caption" / "2.txt").write_text("A bright scene.")
    (src / "caption" / "9.txt").write_text("orphan caption")
    summary = convert_dataset("urban1k", src, tmp_path / "out")
    assert summary["images"] == 2 and summary["skipped"] == {"no caption": 1}
    data = _load(tmp_path / "out")
    assert [q.text for q in data.queries] == ["A long caption about a dark scene.", "A bright scene."]
    assert (tmp_path / "out" / "imgs" / "2.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_jsonl_table_merges_captions_per_image(tmp_path):
    _image(tmp_path / "src" / "pics" / "a.jpg", (255, 0, 0))
    _image(tmp_path / "src" / "b.png", (0, 255, 0), fmt="PNG")
    table = tmp_path / "src" / "wikido.jsonl"
    rows = [{"image": "pics/a.jpg", "caption": "red one"}, {"image": "b.png", "caption": ["green", "lime"]},
            {"image": "pics/a.jpg", "caption": "crimson"}, {"image": "gone.jpg", "caption": "nothing"}]
    table.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    summary = convert_dataset("wikido", table, tmp_path / "out")
    assert summary["images"] == 2 and summary["queries"] == 4 and summary["skipped"] == {"missing": 1}
    data = _load(tmp_path / "out")
    assert data.gallery_ids == ["b", "pics__a"]
    assert {q.text: q.hr for q in data.queries} == {"red one": ["pics__a"], "crimson": ["pics__a"],
                                                    "green": ["b"], "lime": ["b"]}


def test_csv_table_in_chinese(tmp_path):
    _image(tmp_path / "x.jpg", (0, 0, 0))
    with open(tmp_path / "caps.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["image", "caption"], ["x.jpg", "黑色的图片"], ["x.jpg", ""]])
    summary = convert_dataset("folder", tmp_path / "caps.csv", tmp_path / "out", lang="zh")
    assert summary["queries"] == 1
    assert _load(tmp_path / "out", "zh").queries[0].text == "黑色的图片"
    assert list(iter_pairs(tmp_path / "out", "zh"))[0][2] == "黑色的图片"


@pytest.mark.parametrize("content, error, match", [
    ("image;caption\nx.jpg;a\n", DatasetLayoutError, "header image,caption"),
])
def test_bad_csv_header(tmp_path, content, error, match):
    (tmp_path / "t.csv").write_text(content)
    with pytest.raises(error, match=match):
        convert_dataset("folder", tmp_path / "t.csv", tmp_path / "out")


def test_bad_jsonl_line_names_file_and_line(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"image": "a.jpg", "caption": "x"}\n{"image": "b.jpg"}\n')
    with pytest.raises(CorruptData, match="t.jsonl:2"):
        convert_dataset("folder", tmp_path / "t.jsonl", tmp_path / "out")


def test_nothing_usable_is_an_error(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"image": "a.jpg", "caption": "x"}\n')
    with pytest.raises(DatasetLayoutError, match="no usable image"):
        convert_dataset("folder", tmp_path / "t.jsonl", tmp_path / "out")


def test_refuses_foreign_non_empty_output(tmp_path):
    _image(tmp_path / "x.jpg", (0, 0, 0))
    (tmp_path / "t.jsonl").write_text('{"image": "x.jpg", "caption": "x"}\n')
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetLayoutError, match="not empty"):
        convert_dataset("folder", tmp_path / "t.jsonl", out)
    assert (out / "notes.txt").read_text() == "keep me"


def test_cli_convert_prints_summary_and_one_line_errors(tmp_path, capsys):
    _image(tmp_path / "x.jpg", (0, 0, 0))
    (tmp_path / "t.jsonl").write_text('{"image": "x.jpg", "caption": "a black picture"}\n')
    assert main(["convert", "folder", "--src", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "o"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["queries"] == 1
    assert main(["convert", "urban1k", "--src", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: source not found") and "\n" not in err
