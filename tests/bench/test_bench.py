"""``calibclip bench`` end to end at a small size: every JSON field, figures that hold together, one-line errors."""
import json

import pytest

from calibclip.bench import BenchConfig, run_bench, table_rows
from calibclip.bench.report import TARGETS
from calibclip.cli.main import main

SMALL = ["--backbone", "tiny:none", "--gallery", "300", "700", "--queries", "2", "--repeats", "1", "--photos", "4",
         "--batch-size", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    assert main(["bench", *SMALL, "--output", str(out)]) == 0
    return json.loads(out.read_text())


def test_every_field_is_there(report):
    assert set(report) == {"backbone", "environment", "config", "image_encode", "text_encode", "index_build",
                           "galleries", "memory", "targets"}
    assert set(report["environment"]) == {"device", "gpu", "cpu", "cpu_count", "torch_threads", "torch"}
    assert report["environment"]["device"] == "cpu" and report["environment"]["gpu"] is None
    assert report["environment"]["torch_threads"] == 1 and report["config"]["galleries"] == [300, 700]
    assert set(report["config"]["calibration"]) >= {"rerank_k", "lam", "first_stage"}
    assert set(report["image_encode"]) == {"batch", "plain_img_s", "calibrated_img_s", "ratio"}
    assert set(report["text_encode"]) == {"texts", "plain_q_s", "dcc_q_s", "ratio", "dcc_word_frequencies"}
    assert report["text_encode"]["dcc_word_frequencies"] == "500 generated captions"  # tiny:none carries none
    assert set(report["index_build"]) == {"images", "decode_workers", "model_only_img_s", "build_img_s", "ratio",
                                          "db_bytes_per_image"}
    assert set(report["memory"]) == {"peak_rss_mb", "gpu_peak_mb"} and report["memory"]["gpu_peak_mb"] is None
    for row, size in zip(report["galleries"], (300, 700)):
        assert set(row) == {"size", "query_latency", "search", "storage"} and row["size"] == size
        latency = row["query_latency"]
        assert set(latency) == {"gallery", "queries", "repeats", "plain", "dcc_rerank", "composite",
                                "composite_calibrated"}
        for name in ("plain", "dcc_rerank", "composite", "composite_calibrated"):
            assert set(latency[name]) == {"p50_ms", "p95_ms", "ratio_p50"}
        assert [s["batch"] for s in row["search"]] == [1, 32]
        for search in row["search"]:
            assert set(search) == {"batch", "exact_qps", "faiss_flat_qps", "ratio", "top10_agreement"}
        assert set(row["storage"]) == {"dim", "fp16_bytes_per_image", "ivfpq_bytes_per_image", "ivfpq"}
        assert set(row["storage"]["ivfpq"]) == {"lists", "nprobe", "code_bytes", "recall_at_10",
                                                "recall_at_10_rescored", "candidates", "vectors", "trained_on",
                                                "queries"}
    assert [t["target"] for t in report["targets"]] == [name for name, *_ in TARGETS]


def test_figures_hold_together(report):
    for part, plain, method in (("image_encode", "plain_img_s", "calibrated_img_s"),
                                ("text_encode", "plain_q_s", "dcc_q_s"),
                                ("index_build", "model_only_img_s", "build_img_s")):
        values = report[part]
        assert values[plain] > 0 and values[method] > 0
        assert values["ratio"] == pytest.approx(values[method] / values[plain])
    for row in report["galleries"]:
        latency = row["query_latency"]
        assert latency["plain"]["ratio_p50"] == 1.0
        for name in ("dcc_rerank", "composite", "composite_calibrated"):
            stats = latency[name]
            assert 0 < stats["p50_ms"] <= stats["p95_ms"]
            assert stats["ratio_p50"] == pytest.approx(stats["p50_ms"] / latency["plain"]["p50_ms"])
        for search in row["search"]:
            assert search["top10_agreement"] == 1.0  # both sides are exact: the same ten images
            assert search["ratio"] == pytest.approx(search["exact_qps"] / search["faiss_flat_qps"])
        storage = row["storage"]
        assert storage["fp16_bytes_per_image"] == 2 * 2 * storage["dim"]  # two fp16 vectors
        assert 0 < storage["ivfpq_bytes_per_image"] and 0 <= storage["ivfpq"]["recall_at_10"] <= 1
        # rescoring candidates exactly finds at least what the PQ ranking does; at 300 images it sees them all
        assert storage["ivfpq"]["recall_at_10_rescored"] >= storage["ivfpq"]["recall_at_10"]
        assert storage["ivfpq"]["vectors"] == row["size"] >= storage["ivfpq"]["trained_on"]  # filled with all
    assert report["galleries"][0]["storage"]["ivfpq"]["recall_at_10_rescored"] == 1.0
    assert report["index_build"]["db_bytes_per_image"] > report["galleries"][0]["storage"]["fp16_bytes_per_image"]
    for target in report["targets"]:
        bound = float(target["bound"].split()[1])
        assert target["met"] == (target["value"] >= bound if ">=" in target["bound"] else target["value"] <= bound)
    assert report["targets"][1]["at"] == "N=700"  # gallery targets read the largest gallery
    rows = table_rows(report)
    assert len(rows) == 4 + 2 * (3 + 2 + 1)  # encoders, index, then per gallery: 3 latencies, 2 searches, storage
    assert rows[4]["measurement"] == "query p50 ms N=300: plain | DCC + rerank"


def test_table_output_names_the_machine(report, capsys):
    from calibclip.cli.commands.bench import render

    render(report)
    out = capsys.readouterr().out
    assert out.startswith("tiny:none on CPU (") and "1 torch threads)" in out.splitlines()[0]
    assert "DCC + rerank latency / plain" in out and "query p50 ms N=700" in out and "peak RSS" in out


@pytest.mark.parametrize("flags,word", [(["--gallery", "5"], "gallery sizes"), (["--repeats", "0"], "repeats"),
                                        (["--threads", "-1"], "threads")])
def test_bad_sizes_are_one_line_exit_2(flags, word, capsys):
    assert main(["bench", "--backbone", "tiny:none", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and word in err and "\n" not in err


def test_config_refuses_an_empty_gallery_list():
    with pytest.raises(Exception, match="gallery sizes"):
        run_bench(BenchConfig(backbone="tiny:none", galleries=()))
