"""Must show: a random tiny Qwen3 from a config, LoRA on CPU (loss falls), adapter save/reload (same outputs),
and a batch rewritten end to end into valid TIGR lines, through the CLI as users run it."""
import json

import pytest
import torch

from calibclip.cli.csdclip import main as csdclip
from calibclip.cli.main import main
from calibclip.composite.clauses import parse_tigr_text
from calibclip.composite.rewriters import create_rewriter
from calibclip.datasets.synthetic_tigr import generate_tigr
from calibclip.llm.weights import META_FILE, load_model


def finetune(base_dir, records_dir, out, epochs, capsys):
    """``calibclip llm finetune`` on 3 + 3 pairs (one query held out in both languages) → the JSON summary."""
    data = f"{records_dir / 'en_train.jsonl'},{records_dir / 'zh_train.jsonl'}"
    assert main(["llm", "finetune", "--base", str(base_dir), "--data", data, "--output_dir", str(out),
                 "--target-modules", "all-linear", "--epochs", str(epochs), "--lr", "3e-2", "--batch-size", "6",
                 "--heldout", "0.25", "--eval-max", "0", "--seed", "3", "--device", "cpu", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def rewrite(base_dir, adapter, data, out, capsys, max_new_tokens=192):
    """``calibclip llm rewrite`` → the output rows, each checked to be a valid TIGR line of its record."""
    assert main(["llm", "rewrite", "--model", str(base_dir), "--adapter", str(adapter), "--data", str(data),
                 "--out", str(out), "--batch-size", "4", "--device", "cpu",
                 "--max-new-tokens", str(max_new_tokens)]) == 0
    assert "rewrote" in capsys.readouterr().out
    gold = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text_id"] for r in rows] == [g["text_id"] for g in gold]
    rule = create_rewriter("rule")
    for row, want in zip(rows, gold):
        parsed = parse_tigr_text(row["text"])
        assert parsed.raw == parse_tigr_text(want["text"]).raw and parsed.and_clauses
        assert row["rewriter"] == "hf" and row["image_ids"] == want["image_ids"]
        if row["fallback"]:                                   # an unusable answer: rule wrote it, flagged
            assert parsed == rule.rewrite(parsed.raw, data.name[:2]) and row["fallback_reason"]
    return rows, gold


@pytest.fixture(scope="module")
def lora_dir(base_dir, records_dir, tmp_path_factory):
    return tmp_path_factory.mktemp("lora") / "lora"


def test_lora_loss_falls_and_the_adapter_is_saved(base_dir, records_dir, lora_dir, capsys):
    summary = finetune(base_dir, records_dir, lora_dir, 15, capsys)
    losses = [row["loss"] for row in summary["history"]]
    assert len(losses) == 15 and losses[-1] < 0.5 * losses[0]
    assert summary["train_pairs"] == 6 and 0 < summary["trainable_params"] < 60_000
    assert (lora_dir / "adapter_model.safetensors").is_file()
    meta = json.loads((lora_dir / META_FILE).read_text())
    assert meta["prompt"] == "tuned" and meta["config"]["lora_r"] == 8 and meta["history"] == summary["history"]
    assert sorted(p.name for p in (lora_dir / "checkpoints").iterdir()) == ["epoch-14", "epoch-15"]


def test_saved_adapter_reloads_with_the_same_outputs(base_dir, lora_dir):
    peft_model, tokenizer, _ = load_model(base_dir, lora_dir, merge=False)
    merged, _, _ = load_model(base_dir, lora_dir)
    plain, _, _ = load_model(base_dir)
    ids = tokenizer(["A woman in a red dress", "一个穿红色连衣裙的女人"], return_tensors="pt", padding=True)
    with torch.no_grad():
        lora_logits, merged_logits, plain_logits = (m(**ids).logits for m in (peft_model, merged, plain))
        again = load_model(base_dir, lora_dir / "checkpoints" / "epoch-15", merge=False)[0](**ids).logits
    assert torch.equal(again, lora_logits)                         # the epoch checkpoint is the final adapter
    assert torch.allclose(lora_logits, merged_logits, atol=1e-4)   # merging for inference changes nothing
    assert not torch.allclose(lora_logits, plain_logits, atol=1e-2)


def test_batch_rewrite_end_to_end_gives_valid_flagged_tigr_lines(base_dir, records_dir, lora_dir, tmp_path, capsys):
    for name in ("en_train.jsonl", "zh_train.jsonl", "en_unseen.jsonl"):
        rows, _ = rewrite(base_dir, lora_dir, records_dir / name, tmp_path / name, capsys, max_new_tokens=64)
        assert len(rows) == (1 if name == "en_unseen.jsonl" else 4)
    # the same model through `calibclip rewrite --rewriter hf` (one query)
    assert main(["rewrite", "A man in a red coat, without a hat", "--rewriter", "hf", "--llm", str(base_dir),
                 "--adapter", str(lora_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["raw"] == "A man in a red coat, without a hat"


def test_csdclip_evaluates_the_rewritten_file_directly(base_dir, lora_dir, tmp_path, capsys):
    generate_tigr(tmp_path / "tigr", seed=7, scale="small", langs=("en",))
    lines = (tmp_path / "tigr" / "en_synth_tigr.jsonl").read_text(encoding="utf-8").splitlines()
    (tmp_path / "tigr" / "en_six.jsonl").write_text("\n".join(lines[:6]) + "\n", encoding="utf-8")
    rewrite(base_dir, lora_dir, tmp_path / "tigr" / "en_six.jsonl", tmp_path / "tigr" / "en_llm.jsonl", capsys, 32)
    assert csdclip(["--dataset_path", str(tmp_path / "tigr" / "en_llm.jsonl"), "--model_name", "tiny", "--weights",
                    "none", "--gpu", "-1", "--gallery_limit", "40", "--workers", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["info"]["queries"] == 6 and report["info"]["rewriter"] == "gold"   # the file's own lines
    assert 0 <= report["composite"]["NIPR@10"] <= 100


@pytest.mark.slow
def test_longer_lora_makes_the_model_write_the_training_lines_itself(base_dir, records_dir, tmp_path, capsys):
    summary = finetune(base_dir, records_dir, tmp_path / "lora", 60, capsys)
    assert summary["history"][-1]["loss"] < 0.3
    exact = 0
    for name in ("en_train.jsonl", "zh_train.jsonl"):
        rows, gold = rewrite(base_dir, tmp_path / "lora", records_dir / name, tmp_path / name, capsys)
        exact += sum(r["text"] == g["text"] and not r["fallback"] for r, g in zip(rows, gold))
    assert exact >= 5                                                  # of the 6 training lines
