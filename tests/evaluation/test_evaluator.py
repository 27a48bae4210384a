"""Evaluator / evaluate_pedes on a synthetic CUHK-PEDES folder, checked against independent computations."""
import json

import numpy as np
import pytest
import torch

from calibclip.backbones import load_backbone
from calibclip.calibration.retriever import SKIPPED_SCORE
from calibclip.datasets.pedes import load_pedes
from calibclip.errors import ConfigError, DatasetLayoutError
from calibclip.evaluation import Evaluator, person_retrieval_metrics
from calibclip.evaluation.evaluator import METRIC_KEYS, evaluate_pedes
from calibclip.index.encode import encode_images


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("tiny:none", "cpu")


@pytest.fixture(scope="module")
def cuhk(tmp_path_factory):
    from calibclip.datasets.synthetic_pedes import generate_pedes

    summary = generate_pedes(tmp_path_factory.mktemp("synth"), seed=0, scale="small", layouts=("cuhkpedes",))
    return load_pedes(summary["roots"]["cuhkpedes"])


@pytest.fixture(scope="module")
def evaluation(tiny, cuhk):
    return evaluate_pedes(tiny, cuhk, batch_size=64)


def test_metrics_equal_person_retrieval_metrics_of_the_dumped_scores(evaluation, cuhk, tmp_path):
    written = evaluation.save_scores(tmp_path)
    assert sorted(p.name for p in written) == ["labels.json", "sims_baseline.npy", "sims_calibrated.npy"]
    labels = json.loads((tmp_path / "labels.json").read_text())
    assert labels["query_pids"] == cuhk.caption_pids.tolist() and labels["gallery_pids"] == cuhk.image_pids.tolist()
    for method in ("baseline", "calibrated"):
        sims = np.load(tmp_path / f"sims_{method}.npy")
        assert sims.shape == (len(cuhk.captions), len(cuhk.image_paths))
        assert sims.dtype == (np.float32 if method == "baseline" else np.float64)  # float64: exact order below K
        want = person_retrieval_metrics(sims, labels["query_pids"], labels["gallery_pids"])
        assert evaluation.metrics[method] == want
    assert evaluation.metrics["baseline"] != evaluation.metrics["calibrated"]


def test_baseline_scores_are_plain_text_image_cosines(evaluation, tiny, cuhk):
    images, report = encode_images(tiny, cuhk.image_paths)
    texts = tiny.embed_texts(cuhk.captions)
    assert not report.skipped
    np.testing.assert_allclose(evaluation.scores["baseline"], (texts @ images.T).numpy(), atol=1e-5)


def test_evaluator_returns_the_seed_dict(tiny, tmp_path):
    from calibclip.datasets.synthetic_pedes import generate_pedes

    split = load_pedes(generate_pedes(tmp_path, seed=2, ids=30, layouts=("cuhkpedes",))["roots"]["cuhkpedes"])
    results = Evaluator(tiny, device="cpu").evaluate(split)
    want = evaluate_pedes(tiny, split).metrics
    assert {key: results[key] for key in METRIC_KEYS} == {key: want["calibrated"][key] for key in METRIC_KEYS}
    assert results["baseline"] == want["baseline"]
    assert (results["num_queries"], results["num_images"], results["skipped_images"]) == (
        len(split.captions), len(split.image_paths), 0)


def test_unreadable_images_rank_last_and_blank_captions_are_left_out(tiny, tmp_path):
    from calibclip.datasets.synthetic_pedes import generate_pedes

    root = generate_pedes(tmp_path, seed=1, ids=30, layouts=("cuhkpedes",))["roots"]["cuhkpedes"]
    split = load_pedes(root)
    split.image_paths[2].write_bytes(b"truncated")
    split.captions[1] = "  "
    result = evaluate_pedes(tiny, split)
    assert result.skipped_images == [2]
    assert (result.scores["baseline"][:, 2] == SKIPPED_SCORE).all()
    assert result.query_pids.tolist() == np.delete(split.caption_pids, 1).tolist()
    assert result.scores["baseline"].shape == (len(split.captions) - 1, len(split.image_paths))
    assert (result.summary()["skipped_images"], result.summary()["blank_captions"]) == (1, 1)


def test_split_without_captions_fails_before_encoding(tiny, cuhk):
    import dataclasses

    empty = dataclasses.replace(cuhk, captions=[""] * len(cuhk.captions))
    with pytest.raises(DatasetLayoutError, match="has no captions to query with"):
        evaluate_pedes(tiny, empty)


def test_loader_transform_of_the_wrong_size_is_refused(tiny, cuhk):
    from calibclip.datasets import build_test_loader

    loader = build_test_loader(cuhk.root, batch_size=8)  # 384×128: the seed size, not tiny's
    with pytest.raises(ConfigError, match="makes 384x128 images, the model takes 192x64"):
        Evaluator(tiny, device="cpu").evaluate(loader)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_cuda_request_without_cuda_falls_back_to_cpu_with_a_warning(tiny, caplog):
    with caplog.at_level("WARNING"):
        evaluator = Evaluator(tiny, device="cuda")
    assert evaluator.device == torch.device("cpu")
    assert "CUDA is not available here: running on the CPU" in caplog.text


def test_streamed_evaluation_writes_the_same_matrices_to_disk(evaluation, tiny, cuhk, tmp_path):
    streamed = evaluate_pedes(tiny, cuhk, batch_size=64, keep_scores=False, scores_dir=tmp_path)
    assert streamed.metrics == evaluation.metrics
    for method in ("baseline", "calibrated"):
        np.testing.assert_array_equal(np.load(tmp_path / f"sims_{method}.npy"), evaluation.scores[method])
    assert sorted(p.name for p in streamed.save_scores(tmp_path)) == [
        "labels.json", "sims_baseline.npy", "sims_calibrated.npy"]
    with pytest.raises(ConfigError, match="did not keep"):
        evaluate_pedes(tiny, cuhk, batch_size=64, keep_scores=False).save_scores(tmp_path / "x")
