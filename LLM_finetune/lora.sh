#!/bin/sh
# LoRA fine-tune a causal LM (Qwen3 by default) to rewrite queries into TIGR lines (CsdCLIP's lora.sh).
# Edit the variables below (or set them in the environment), then: sh ./LLM_finetune/lora.sh
# Offline demo: calibclip llm pretrain-tiny --out runs/llm/tiny, then
#   MODEL_PATH=runs/llm/tiny/base LR=2e-3 EPOCHS=2 BATCH_SIZE=16 sh ./LLM_finetune/lora.sh
set -eu

MODEL_PATH=${MODEL_PATH:-/path/to/Qwen3-1.7B}          # local transformers folder of the base model
DATA=${DATA:-runs/llm/tiny/data/en_train.jsonl,runs/llm/tiny/data/zh_train.jsonl}  # TIGR jsonl, comma-separated
OUTPUT_DIR=${OUTPUT_DIR:-runs/llm/lora}                  # adapter + checkpoints (--resume continues here)
LORA_R=${LORA_R:-8}
LORA_ALPHA=${LORA_ALPHA:-16}
LORA_DROPOUT=${LORA_DROPOUT:-0.05}
TARGET_MODULES=${TARGET_MODULES:-q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj}
EPOCHS=${EPOCHS:-3}
LR=${LR:-2e-4}
MAX_LEN=${MAX_LEN:-512}
BATCH_SIZE=${BATCH_SIZE:-8}
GRAD_ACCUM=${GRAD_ACCUM:-2}
EXTRA=${EXTRA:-}                                         # e.g. "--bf16" on a GPU, "--resume" after a stop
CALIBCLIP=${CALIBCLIP:-calibclip}                        # or: "python -m calibclip.cli.main"

$CALIBCLIP llm finetune --base "$MODEL_PATH" --data "$DATA" --output_dir "$OUTPUT_DIR" \
    --lora-r "$LORA_R" --lora-alpha "$LORA_ALPHA" --lora-dropout "$LORA_DROPOUT" \
    --target-modules "$TARGET_MODULES" --epochs "$EPOCHS" --lr "$LR" --max-len "$MAX_LEN" \
    --batch-size "$BATCH_SIZE" --grad-accum "$GRAD_ACCUM" $EXTRA
