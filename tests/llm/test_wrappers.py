"""``LLM_finetune/lora.sh`` and ``reason.sh`` pass valid flags to ``calibclip llm`` (run with CALIBCLIP=echo)."""
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from calibclip.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _command(script: str, **env) -> list[str]:
    out = subprocess.run(["sh", str(ROOT / "LLM_finetune" / script)], env={**os.environ, "CALIBCLIP": "echo", **env},
                         capture_output=True, text=True, check=True).stdout
    return shlex.split(out)


def test_lora_sh_defaults_are_the_documented_flags():
    args = build_parser().parse_args(_command("lora.sh", MODEL_PATH="/m/Qwen3", EXTRA="--bf16 --resume"))
    assert (args.llm_command, args.base, args.output_dir) == ("finetune", "/m/Qwen3", "runs/llm/lora")
    assert (args.lora_r, args.lora_alpha, args.lora_dropout, args.epochs, args.lr) == (8, 16, 0.05, 3, 2e-4)
    assert (args.max_len, args.batch_size, args.grad_accum, args.bf16, args.resume) == (512, 8, 2, True, True)
    assert args.target_modules.split(",")[0] == "q_proj" and args.data.count(".jsonl") == 2


@pytest.mark.parametrize("env, want", [
    ({"ADAPTER": "a/lora"}, {"model": "/m/Qwen3", "adapter": "a/lora", "endpoint": None, "batch_size": 16}),
    ({"ADAPTER": ""}, {"adapter": None, "endpoint": None}),
    ({"ENDPOINT": "http://localhost:8000/v1", "EXTRA": "--concurrency 8"},
     {"endpoint": "http://localhost:8000/v1", "adapter": None, "concurrency": 8}),
])
def test_reason_sh_branches(env, want):
    args = build_parser().parse_args(_command("reason.sh", MODEL_PATH="/m/Qwen3", **env))
    assert args.llm_command == "rewrite" and args.data.endswith("en_tigr.jsonl")
    assert args.model == "/m/Qwen3" and {k: getattr(args, k) for k in want} == want
