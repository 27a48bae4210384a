"""``calibclip llm``: LoRA fine-tuning of a query-rewriting LM and batch rewriting (the seed's lora.sh / reason.sh).

    calibclip llm pretrain-tiny --out runs/tiny-qwen3
    calibclip llm finetune --base runs/tiny-qwen3/base --data runs/tiny-qwen3/data/en_train.jsonl,... \\
        --output_dir runs/tiny-qwen3/lora
    calibclip llm rewrite --model runs/tiny-qwen3/base --adapter runs/tiny-qwen3/lora \\
        --data data/tigr/en_synth_tigr.jsonl --out data/tigr/en_llm.jsonl
    calibclip llm rewrite --endpoint http://localhost:8000/v1 --model qwen3 --data ... --out ...
"""
from __future__ import annotations

import argparse

from calibclip.cli.commands.rewrite import add_endpoint_args, endpoint_rewriter, print_rewrite_summary
from calibclip.cli.common import (add_device_arg, add_json_arg, add_threads_arg, apply_threads, print_json,
                                  print_summary, print_table)

HELP = "fine-tune a query-rewriting LM with LoRA, rewrite a TIGR dataset with it, build the tiny demo LM"


def _common(parser: argparse.ArgumentParser) -> None:
    add_threads_arg(parser)
    add_json_arg(parser)


def _add_finetune(sub) -> None:
    p = sub.add_parser("finetune", help="LoRA fine-tune a causal LM on TIGR records (the seed's lora.sh)")
    p.add_argument("--base", required=True, help="local transformers folder of the base model (e.g. Qwen3)")
    p.add_argument("--data", required=True, help="TIGR jsonl file(s), comma-separated (en_*.jsonl, zh_*.jsonl)")
    p.add_argument("--output_dir", required=True, help="where the adapter, metadata and checkpoints go")
    p.add_argument("--lora-r", type=int, default=8, help="LoRA rank (default: 8)")
    p.add_argument("--lora-alpha", type=int, default=16, help="LoRA alpha (default: 16)")
    p.add_argument("--lora-dropout", type=float, default=0.05, help="LoRA dropout (default: 0.05)")
    p.add_argument("--target-modules", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
                   help="comma list of module names, or all-linear (default: Qwen3's attention + MLP projections)")
    p.add_argument("--epochs", type=int, default=3, help="epochs (default: 3)")
    p.add_argument("--lr", type=float, default=2e-4, help="peak learning rate (default: 2e-4)")
    p.add_argument("--max-len", type=int, default=512, help="max prompt+answer tokens; longer pairs are left out")
    p.add_argument("--batch-size", type=int, default=8, help="pairs per forward pass (default: 8)")
    p.add_argument("--grad-accum", type=int, default=1, help="forward passes per optimizer step (default: 1)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast")
    p.add_argument("--resume", action="store_true", help="continue after the newest checkpoint in --output_dir")
    p.add_argument("--seed", type=int, default=0, help="held-out split, LoRA init, data order (default: 0)")
    p.add_argument("--heldout", type=float, default=0.1, help="share of queries held out (default: 0.1)")
    p.add_argument("--eval-max", type=int, default=200, help="held-out queries rewritten each epoch (default: 200)")
    add_device_arg(p)
    _common(p)
    p.set_defaults(_llm=_finetune)


def _add_rewrite(sub) -> None:
    p = sub.add_parser("rewrite", help="rewrite every query of a TIGR jsonl with an LLM (the seed's reason.sh)")
    p.add_argument("--model", required=True, help="local model folder, or the served model name with --endpoint")
    p.add_argument("--adapter", default=None, help="LoRA adapter folder of `calibclip llm finetune`")
    p.add_argument("--data", required=True, help="TIGR jsonl to rewrite (en_*.jsonl / zh_*.jsonl)")
    p.add_argument("--out", required=True, help="output TIGR jsonl; put it next to the dataset's lmdb/ for csdclip")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per generate call (default: 8)")
    p.add_argument("--lang", choices=["en", "zh"], default=None, help="default: the en_/zh_ prefix of --data")
    p.add_argument("--endpoint", default=None, help="an OpenAI-compatible URL (vLLM, llama.cpp, Ollama) instead "
                                                    "of a local model, e.g. http://localhost:8000/v1")
    p.add_argument("--prompt", default=None, choices=["one-shot", "tuned"],
                   help="prompt style (default: the adapter's, else one-shot)")
    p.add_argument("--max-new-tokens", type=int, default=192, help="answer length cap (default: 192)")
    add_endpoint_args(p)
    add_device_arg(p)
    _common(p)
    p.set_defaults(_llm=_rewrite)


def _add_pretrain(sub) -> None:
    p = sub.add_parser("pretrain-tiny", help="build and pre-train tiny-qwen3, the offline demonstration LM")
    p.add_argument("--out", required=True, help="output folder (base/, data/, tiny_lm.json)")
    p.add_argument("--seed", type=int, default=0, help="corpus, initialisation and data order (default: 0)")
    p.add_argument("--epochs", type=int, default=None, help="pre-training epochs (default: 2)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted pre-training in --out")
    _common(p)
    p.set_defaults(_llm=_pretrain)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="llm_command", metavar="SUBCOMMAND", required=True)
    _add_finetune(sub)
    _add_rewrite(sub)
    _add_pretrain(sub)


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    return args._llm(args)


def _finetune(args: argparse.Namespace) -> int:
    from calibclip.llm.finetune import FinetuneConfig, finetune
    from calibclip.llm.trainer import LoopConfig

    loop = LoopConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, grad_accum=args.grad_accum,
                      bf16=args.bf16, seed=args.seed)
    cfg = FinetuneConfig(base=args.base, data=tuple(args.data.split(",")), output_dir=args.output_dir,
                         lora_r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                         target_modules=tuple(t.strip() for t in args.target_modules.split(",") if t.strip()),
                         max_len=args.max_len, heldout=args.heldout, eval_max=args.eval_max, device=args.device,
                         loop=loop)
    summary = finetune(cfg, resume=args.resume)
    if args.json:
        print_json(summary)
        return 0
    print_table(summary["history"], title=f"held-out ({summary['heldout_evaluated']} queries) after each epoch")
    print(f"adapter → {summary['output_dir']} ({summary['trainable_params']} trainable parameters, "
          f"{summary['train_pairs']} training pairs, {summary['seconds']} s)")
    return 0


def _rewrite(args: argparse.Namespace) -> int:
    from calibclip.composite.rewrite_file import rewrite_tigr_file

    if args.endpoint and args.adapter:
        from calibclip.errors import ConfigError

        raise ConfigError("--adapter applies to a local --model, not to an --endpoint",
                          "serve the adapter with the endpoint (e.g. vLLM --lora-modules) and name it in --model")
    if args.endpoint:
        rewriter = endpoint_rewriter(args, args.endpoint, args.model)
    else:
        from calibclip.llm.rewrite import local_rewriter

        rewriter = local_rewriter(args.model, args.adapter, args.device, args.batch_size, args.max_new_tokens,
                                  args.prompt)
    print_rewrite_summary(rewrite_tigr_file(rewriter, args.data, args.out, args.lang), args.json)
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    from calibclip.llm.tiny import TinyLMConfig, pretrain_tiny

    cfg = TinyLMConfig(seed=args.seed)
    if args.epochs is not None:
        cfg.loop.epochs = args.epochs
    summary = pretrain_tiny(args.out, cfg, resume=args.resume)
    history = summary.pop("history")
    summary["loss"] = round(history[-1]["loss"], 4) if history else None
    print_summary(summary, args.json)
    return 0
