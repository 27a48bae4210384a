import base64
import io
import json
import logging
import pickle
import shutil

import lmdb
import pytest
import torch
from PIL import Image

from calibclip.datasets import lmdb_store
from calibclip.datasets.tigr import PairImages, iter_pairs, load_tigr
from calibclip.datasets.tigr_writer import TigrWriter
from calibclip.errors import BadImage, CorruptData, DatasetLayoutError
from calibclip.index.encode import encode_images

TEXT = ("A woman in a green dress with no shoes | Time: none, place: none, person: none | Search intention: "
        "complex | Phrase, word expression optimization: A woman in a green dress | Multi-agent logical "
        "relationship analysis: -AND: < a woman wearing a green dress >, -NOT: < shoes >")


def _jpeg(color):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="JPEG")
    return buffer.getvalue()


COLORS = {"img-a": (255, 0, 0), "img-b": (0, 255, 0), "img-c": (0, 0, 255), "img-d": (255, 255, 0)}


@pytest.fixture()
def tiny_root(tmp_path):
    """Four images; query q1: HR a, MR b; query q2: HR c plus an id missing from the gallery."""
    root = tmp_path / "tigr"
    writer = TigrWriter(root, marker="meta.json")
    writer.write_images("imgs", ((i, _jpeg(c)) for i, c in COLORS.items()), folder_ids={"img-a", "img-b", "img-c"})
    records = [{"text_id": "q1", "text": TEXT, "image_ids": ["img-a"], "image_xiangsi_ids": ["img-b"]},
               {"text_id": "q2", "text": "a blue square", "image_ids": ["img-c", "img-zzz"], "image_xiangsi_ids": []}]
    writer.write_queries("en", "tiny", records)
    writer.write_queries("zh", "tiny", [dict(r, text="蓝色方块") for r in records])
    writer.write_pairs("en", [("img-a", "t0", "red"), ("img-b", "t1", "green")])
    writer.write_pairs("zh", [("img-a", "t0", "红色")])
    return root


def test_chinese_clip_lmdb_convention(tiny_root):
    env = lmdb.open(str(tiny_root / "lmdb" / "imgs"), readonly=True, lock=False)
    with env.begin() as txn:
        assert txn.get(b"num_images") == b"4"
        raw = base64.urlsafe_b64decode(txn.get(b"img-a"))
    env.close()
    assert Image.open(io.BytesIO(raw)).format == "JPEG"
    env = lmdb.open(str(tiny_root / "lmdb" / "pairs"), readonly=True, lock=False)
    with env.begin() as txn:
        assert txn.get(b"num_samples") == b"2"
        assert pickle.loads(txn.get(b"1")) == ("img-b", "t1", "green")
    env.close()


def test_load_queries_gallery_and_gains(tiny_root, caplog):
    with caplog.at_level(logging.WARNING):
        data = load_tigr(tiny_root)
    try:
        assert data.gallery_ids == ["img-a", "img-b", "img-c", "img-d"]
        assert [q.text_id for q in data.queries] == ["q1", "q2"]
        q1 = data.queries[0]
        assert q1.clauses.and_clauses == ("a woman wearing a green dress",) and q1.clauses.not_clauses == ("shoes",)
        assert data.queries[1].clauses.raw == "a blue square"
        assert data.gains() == [{0: 1.0, 1: 0.5}, {2: 1.0}]
        assert data.missing == 1 and "not in the gallery" in caplog.text
        red = data.load_image("img-a").resize((1, 1)).getpixel((0, 0))
        assert red[0] > 200 and red[1] < 50
        assert data.image_source(2)().resize((1, 1)).getpixel((0, 0))[2] > 200
        with pytest.raises(BadImage, match="img-zzz"):
            data.load_image("img-zzz")
    finally:
        data.close()


def test_en_and_zh_share_one_imgs_handle(tiny_root):
    en, zh = load_tigr(tiny_root, "en"), load_tigr(tiny_root, "zh")
    store = (tiny_root / "lmdb" / "imgs").resolve()
    assert lmdb_store._envs[store][1] == 2
    assert zh.queries[1].text == "蓝色方块"
    assert en.load_image("img-b").size == zh.load_image("img-b").size == (8, 8)
    en.close()
    assert zh.load_image("img-c").size == (8, 8)
    zh.close()
    assert store not in lmdb_store._envs


def test_image_sources_feed_encode_images(tiny_root):
    from calibclip.backbones import load_backbone

    backbone = load_backbone("tiny:none", "cpu")
    data = load_tigr(tiny_root)
    vectors, report = encode_images(backbone, [data.image_source(i) for i in range(4)], batch_size=3, workers=2)
    data.close()
    assert vectors.shape == (4, backbone.embed_dim) and report.encoded == [0, 1, 2, 3]
    assert torch.allclose(vectors.norm(dim=1), torch.ones(4), atol=1e-4)


class _Pixels(torch.utils.data.Dataset):
    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data.gallery_ids)

    def __getitem__(self, i):
        return torch.tensor(self.data.image_source(i)().resize((1, 1)).getpixel((0, 0)))


def test_forked_dataloader_workers_read_the_shared_handle(tiny_root):
    data = load_tigr(tiny_root)
    batches = list(torch.utils.data.DataLoader(_Pixels(data), batch_size=2, num_workers=2))
    data.close()
    pixels = torch.cat(batches)
    assert pixels.shape == (4, 3) and pixels[0, 0] > 200 and pixels[1, 1] > 200 and pixels[2, 2] > 200


def test_gallery_limit_keeps_relevant_images(tiny_root):
    data = load_tigr(tiny_root, gallery_limit=1)
    assert data.gallery_ids == ["img-a", "img-b", "img-c"]
    data.close()
    data = load_tigr(tiny_root, gallery_limit=4)
    assert len(data.gallery_ids) == 4
    data.close()


def test_plain_imgs_folder_is_the_gallery_without_lmdb(tiny_root):
    shutil.rmtree(tiny_root / "lmdb")
    data = load_tigr(tiny_root)
    assert data.gallery_ids == ["img-a", "img-b", "img-c"]
    assert data.gains() == [{0: 1.0, 1: 0.5}, {2: 1.0}] and data.missing == 1
    assert data.load_image("img-b").resize((1, 1)).getpixel((0, 0))[1] > 200
    data.close()


def test_jsonl_file_can_be_passed_and_sets_language(tiny_root):
    data = load_tigr(tiny_root / "zh_tiny.jsonl")
    assert data.lang == "zh" and data.root == tiny_root and data.queries[0].text == "蓝色方块"
    data.close()


def test_iter_pairs_en_zh(tiny_root):
    assert list(iter_pairs(tiny_root)) == [("img-a", "t0", "red"), ("img-b", "t1", "green")]
    assert list(iter_pairs(tiny_root, "zh")) == [("img-a", "t0", "红色")]
    assert list(iter_pairs(tiny_root, split="gallery")) == list(iter_pairs(tiny_root))
    with pytest.raises(DatasetLayoutError, match="train_imgs"):
        list(iter_pairs(tiny_root, split="train"))


def test_train_split_and_pair_images(tmp_path):
    root = tmp_path / "t"
    writer = TigrWriter(root, marker="meta.json")
    writer.write_images("imgs", [("g1", _jpeg((0, 0, 255)))])
    writer.write_images("train_imgs", [("t1", _jpeg((255, 0, 0)))], folder_ids=())
    writer.write_pairs("en", [("g1", "a", "blue"), ("t1", "b", "red")])
    assert list(iter_pairs(root, split="train")) == [("t1", "b", "red")]
    assert list(iter_pairs(root, split="gallery")) == [("g1", "a", "blue")]
    images = PairImages(root)
    assert images.load("t1").resize((1, 1)).getpixel((0, 0))[0] > 200
    assert images.source("g1")().resize((1, 1)).getpixel((0, 0))[2] > 200
    with pytest.raises(BadImage):
        images.load("nope")
    images.close()
    assert not lmdb_store._envs


def test_pairs_written_by_chinese_clip_style_int_ids_read_as_str(tmp_path):
    path = tmp_path / "lmdb" / "pairs"
    path.mkdir(parents=True)
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        txn.put(b"0", pickle.dumps((17, 4, "a dog")))
        txn.put(b"num_samples", b"1")
    env.close()
    assert list(iter_pairs(tmp_path)) == [("17", "4", "a dog")]


def test_pickled_objects_other_than_tuples_are_refused(tmp_path):
    lmdb_store.write_pairs(tmp_path / "lmdb" / "pairs", [("a", "b", "c")])
    env = lmdb.open(str(tmp_path / "lmdb" / "pairs"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        txn.put(b"0", pickle.dumps(("a", "b", Image.new("RGB", (1, 1)))))
    env.close()
    with pytest.raises(CorruptData, match="pair 0"):
        list(iter_pairs(tmp_path))


def test_truncated_lmdb_is_corrupt_data_not_a_crash(tiny_root):
    data_file = tiny_root / "lmdb" / "imgs" / "data.mdb"
    with open(data_file, "r+b") as handle:
        handle.truncate(data_file.stat().st_size // 2)
    with pytest.raises(CorruptData, match="truncated"):
        load_tigr(tiny_root)


def test_garbage_lmdb_is_corrupt_data(tiny_root):
    (tiny_root / "lmdb" / "imgs" / "data.mdb").write_bytes(b"\x00garbage" * 2000)
    with pytest.raises(CorruptData, match=str(tiny_root / "lmdb" / "imgs")):
        load_tigr(tiny_root)
    (tiny_root / "lmdb" / "pairs" / "data.mdb").write_bytes(b"")
    with pytest.raises(CorruptData):
        list(iter_pairs(tiny_root))


def test_layout_errors(tmp_path, tiny_root):
    with pytest.raises(DatasetLayoutError, match="not found"):
        load_tigr(tmp_path / "nowhere")
    with pytest.raises(DatasetLayoutError, match="no en_"):
        load_tigr(tmp_path)
    (tiny_root / "en_other.jsonl").write_text((tiny_root / "en_tiny.jsonl").read_text())
    with pytest.raises(DatasetLayoutError, match="several"):
        load_tigr(tiny_root)
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(tiny_root / "en_tiny.jsonl", bare)
    with pytest.raises(DatasetLayoutError, match="neither lmdb/imgs nor imgs/"):
        load_tigr(bare)
    with pytest.raises(DatasetLayoutError, match="no pairs store"):
        list(iter_pairs(bare))


@pytest.mark.parametrize("line, match", [("{not json", "en_bad.jsonl:2"), ('{"text": "x"}', "missing key"),
                                         ('{"text_id": "q", "text": ""}', "empty"),
                                         ('{"text_id": "q7", "text": " | Time: night | Multi-agent logical '
                                          'relationship analysis: -AND: < a man >"}',
                                          r"en_bad.jsonl:2: text_id q7: empty query")])
def test_malformed_jsonl_names_file_and_line(tiny_root, tmp_path, line, match):
    bad = tmp_path / "en_bad.jsonl"
    good = json.dumps({"text_id": "q", "text": "fine", "image_ids": []})
    bad.write_text(good + "\n" + line + "\n")
    shutil.copytree(tiny_root / "lmdb", tmp_path / "lmdb")
    with pytest.raises(CorruptData, match=match):
        load_tigr(bad)


def test_failed_write_leaves_no_half_store(tmp_path):
    def items():
        for i in range(1500):  # past the first chunk commit
            yield f"a{i}", b"x"
        raise CorruptData("source broke half way")

    with pytest.raises(CorruptData):
        lmdb_store.write_images(tmp_path / "imgs", items())
    assert not (tmp_path / "imgs").exists()
    assert lmdb_store.write_images(tmp_path / "imgs", [("b", _jpeg((0, 0, 0)))]) == 1
    assert lmdb_store.read_keys(tmp_path / "imgs") == ["b"]


def test_standard_base64_values_decode_too(tmp_path):
    data = _jpeg((255, 255, 255)) + b"\xfb\xff"  # bytes whose base64 holds '+' and '/' in the standard alphabet
    assert b"+" in base64.b64encode(data) or b"/" in base64.b64encode(data)
    assert lmdb_store.decode_image_value(base64.b64encode(data)) == data
    assert lmdb_store.decode_image_value(base64.urlsafe_b64encode(data)) == data
