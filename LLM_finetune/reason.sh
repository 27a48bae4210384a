#!/bin/sh
# Rewrite every query of a TIGR jsonl with the fine-tuned model (CsdCLIP's reason.sh).
# Edit the variables below (or set them in the environment), then: sh ./LLM_finetune/reason.sh
# The output is a TIGR jsonl; written next to the dataset's lmdb/, csdclip evaluates it directly:
#   csdclip --dataset_path "$OUT" --model_name clip --model_scale ViT-B/16 --gpu 0 --num_res 10
set -eu

MODEL_PATH=${MODEL_PATH:-/path/to/Qwen3-1.7B}   # the base model the adapter was trained on
ADAPTER=${ADAPTER-runs/llm/lora}                  # --output_dir of lora.sh ("" for the base model alone)
DATA=${DATA:-data/tigr100k/en_tigr.jsonl}         # TIGR jsonl to rewrite (en_*.jsonl / zh_*.jsonl)
OUT=${OUT:-data/tigr100k/en_llm.jsonl}            # rewritten TIGR jsonl
BATCH_SIZE=${BATCH_SIZE:-16}
ENDPOINT=${ENDPOINT:-}                            # an OpenAI-compatible URL instead (vLLM, llama.cpp, Ollama);
                                                  # then MODEL_PATH is the served model name
EXTRA=${EXTRA:-}                                  # e.g. "--lang zh", "--concurrency 8", "--fallback"
CALIBCLIP=${CALIBCLIP:-calibclip}                 # or: "python -m calibclip.cli.main"

if [ -n "$ENDPOINT" ]; then
    $CALIBCLIP llm rewrite --endpoint "$ENDPOINT" --model "$MODEL_PATH" --data "$DATA" --out "$OUT" $EXTRA
elif [ -n "$ADAPTER" ]; then
    $CALIBCLIP llm rewrite --model "$MODEL_PATH" --adapter "$ADAPTER" --data "$DATA" --out "$OUT" \
        --batch-size "$BATCH_SIZE" $EXTRA
else
    $CALIBCLIP llm rewrite --model "$MODEL_PATH" --data "$DATA" --out "$OUT" --batch-size "$BATCH_SIZE" $EXTRA
fi
