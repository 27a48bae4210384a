import json
import shutil

import pytest
import torch

from calibclip.cli.main import main
from calibclip.composite.rewriters.hf import load_causal_lm
from calibclip.errors import CheckpointMismatch
from calibclip.llm.finetune import FinetuneConfig, finetune
from calibclip.llm.trainer import LoopConfig, fit, latest_checkpoint, make_batches


def _config(base_dir, records_dir, out, epochs, **kw):
    loop = LoopConfig(epochs=epochs, lr=3e-2, batch_size=6, seed=5)
    return FinetuneConfig(base=str(base_dir), data=(str(records_dir / "en_train.jsonl"),
                                                    str(records_dir / "zh_train.jsonl")),
                          output_dir=str(out), target_modules=("q_proj", "v_proj"), heldout=0.25,
                          max_new_tokens=24, device="cpu", loop=loop, **kw)


def _adapter(folder):
    from safetensors.torch import load_file

    return load_file(folder / "adapter_model.safetensors")


def test_resumed_run_equals_the_uninterrupted_one_and_scores_every_epoch(base_dir, records_dir, tmp_path):
    straight = finetune(_config(base_dir, records_dir, tmp_path / "straight", 2))
    assert [row["epoch"] for row in straight["history"]] == [1, 2] and straight["heldout_evaluated"] == 2
    for row in straight["history"]:                        # held-out scores after every epoch
        assert {"F1", "AND-F1", "NOT-F1", "exact", "parsed"} <= set(row)
    # the same run killed during epoch 2: only checkpoints/epoch-1 survived
    shutil.copytree(tmp_path / "straight" / "checkpoints" / "epoch-1", tmp_path / "killed" / "checkpoints" / "epoch-1")
    resumed = finetune(_config(base_dir, records_dir, tmp_path / "killed", 2), resume=True)
    assert resumed["history"] == straight["history"]
    a, b = _adapter(tmp_path / "straight"), _adapter(tmp_path / "killed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any("lora_B" in k and a[k].abs().sum() > 0 for k in a)          # the adapter learned something


def test_an_interrupted_checkpoint_is_skipped_and_old_ones_pruned(base_dir, tmp_path):
    model, tokenizer = load_causal_lm(base_dir)
    examples = [([1, 2, 3, 4], [1, 2, 3, 4]), ([5, 6, 7], [-100, 6, 7])]
    fit(model, examples, LoopConfig(epochs=3, batch_size=2, keep=2), tmp_path, tokenizer.pad_token_id)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["epoch-2", "epoch-3"]
    (tmp_path / "checkpoints" / "epoch-3" / "state.pt").unlink()             # killed while saving
    assert latest_checkpoint(tmp_path).name == "epoch-2"
    with pytest.raises(CheckpointMismatch, match="nothing to resume"):
        fit(model, examples, LoopConfig(epochs=1), tmp_path / "empty", 0, resume=True)


def test_batches_are_right_padded_and_seeded():
    examples = [([1, 2, 3], [-100, 2, 3]), ([4], [4]), ([5, 6], [5, 6])]
    one = make_batches(examples, 2, seed=1, epoch=1, pad_id=0)
    assert [b["input_ids"].shape[0] for b in one] == [2, 1]
    assert all(torch.equal(x["input_ids"], y["input_ids"]) for x, y in zip(one, make_batches(examples, 2, 1, 1, 0)))
    for batch in one:
        for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"]):
            n = int(mask.sum())
            assert ids[:n].tolist() in [e[0] for e in examples] and (ids[n:] == 0).all() and (labels[n:] == -100).all()


@pytest.mark.parametrize("change, needle", [
    ({"--base": "{tmp}/none"}, "no causal LM at"),
    ({"--data": "{tmp}/en_nope.jsonl"}, "training data not found"),
    ({"--target-modules": "wq,wk"}, "do not fit this model"),
    ({"--output_dir": "{tmp}/lora"}, "already holds a fine-tuning run"),
    ({"--output_dir": "{tmp}/fresh", "--resume": None}, "nothing to resume"),
])
def test_bad_finetune_input_is_one_line_exit_2(base_dir, records_dir, tmp_path, capsys, change, needle):
    (tmp_path / "lora" / "checkpoints").mkdir(parents=True)
    args = {"--base": str(base_dir), "--data": str(records_dir / "en_train.jsonl"), "--output_dir": str(tmp_path / "o"),
            "--epochs": "1", "--device": "cpu"}
    args.update({k: v and v.format(tmp=tmp_path) for k, v in change.items()})
    assert main(["llm", "finetune", *[x for kv in args.items() for x in kv if x is not None]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err


def test_bad_rewrite_input_is_one_line_exit_2(base_dir, records_dir, tmp_path, capsys):
    data = str(records_dir / "en_train.jsonl")
    cases = [
        (["--model", str(base_dir), "--adapter", str(tmp_path)], "no LoRA adapter at"),
        (["--model", "qwen3", "--endpoint", "http://127.0.0.1:9/v1", "--adapter", str(tmp_path)], "--adapter applies"),
        (["--model", str(tmp_path)], "config.json missing"),
    ]
    for extra, needle in cases:
        assert main(["llm", "rewrite", *extra, "--data", data, "--out", str(tmp_path / "en_o.jsonl")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    assert main(["llm", "rewrite", "--model", str(base_dir), "--data", data, "--out", data]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert json.loads((records_dir / "en_train.jsonl").read_text().splitlines()[0])["text_id"] == "t0"
