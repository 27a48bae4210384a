"""The seed README's Python block, as printed there, on a CPU machine.

Only what a reader must adapt is adapted: the checkpoint path (a file written by ``CalibCLIP.save``),
and the ``dataloader`` the block uses without defining (a test loader over a generated set in the
seed's ``imgs/`` + ``annotations/`` layout). ``device="cuda"`` stays: without CUDA it runs on the CPU
with a warning. The default test shrinks the depth to 2 + 2 layers (width and input size stay
ViT-B/16's); the ``slow`` one runs the block's own 12 + 12.
"""
from __future__ import annotations

import pytest
import torch

SEED_BLOCK = '''
from calibclip import CalibCLIP, build_calibclip
from calibclip.datasets import build_transforms
from calibclip.evaluation import Evaluator
# Build model
model = build_calibclip(
    pretrained="checkpoints/calibclip_cuhkpedes.pth",
    embed_dim=512,
    vision_layers=12,
    text_layers=12,
)
model.eval()
# Build transforms
transform = build_transforms(is_train=False, image_size=(384, 128))
# Run evaluation
evaluator = Evaluator(model, device="cuda")
results = evaluator.evaluate(dataloader)
print(f"Rank-1: {results['rank1']:.2f}%")
'''


def _run_seed_block(tmp_path, monkeypatch, layers: int) -> dict:
    from calibclip import build_calibclip
    from calibclip.datasets import build_test_loader, build_transforms, generate_pedes

    root = generate_pedes(tmp_path / "data", seed=4, ids=9, layouts=("annotations",))["roots"]["annotations"]
    checkpoint = tmp_path / "checkpoints" / "calibclip_cuhkpedes.pth"
    build_calibclip(pretrained=None, embed_dim=512, vision_layers=layers, text_layers=layers).save(checkpoint)
    dataloader = build_test_loader(root, transform=build_transforms(is_train=False, image_size=(384, 128)),
                                   batch_size=16)
    code = SEED_BLOCK.replace("vision_layers=12", f"vision_layers={layers}").replace("text_layers=12",
                                                                                     f"text_layers={layers}")
    monkeypatch.chdir(tmp_path)
    namespace = {"dataloader": dataloader}
    exec(compile(code, "seed README", "exec"), namespace)  # noqa: S102 - the block under test
    return namespace


def _check(namespace, capsys, caplog) -> None:
    results = namespace["results"]
    assert set(results) >= {"rank1", "rank5", "rank10", "mAP", "mINP", "baseline", "calibrated"}
    assert 0 <= results["rank1"] <= results["rank5"] <= results["rank10"] <= 100
    assert results["num_queries"] == 2 * results["num_images"] > 0
    assert capsys.readouterr().out.strip() == f"Rank-1: {results['rank1']:.2f}%"
    assert isinstance(namespace["model"], namespace["CalibCLIP"])
    if not torch.cuda.is_available():
        assert namespace["evaluator"].device == torch.device("cpu")
        assert "CUDA is not available here: running on the CPU" in caplog.text


def test_seed_python_block_runs_on_cpu(tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level("WARNING")
    _check(_run_seed_block(tmp_path, monkeypatch, layers=2), capsys, caplog)


@pytest.mark.slow
def test_seed_python_block_full_vit_b16(tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level("WARNING")
    _check(_run_seed_block(tmp_path, monkeypatch, layers=12), capsys, caplog)
