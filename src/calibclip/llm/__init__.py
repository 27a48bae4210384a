"""LLM query optimisation for CsdCLIP: LoRA fine-tuning and batch rewriting (the seed's lora.sh / reason.sh).

Modules (heavy libraries — torch, transformers, peft, tokenizers — load only when used):

* ``pairs``     TIGR records → (raw query, rest of the TIGR line) training pairs; held-out split
* ``trainer``   the causal-LM epoch loop: checkpoints, exact resume, seed, bf16, gradient accumulation
* ``finetune``  ``calibclip llm finetune``: peft LoRA + per-epoch held-out clause P/R/F1 and exact lines
* ``scores``    ``rewriter_eval`` scores + exact-line accuracy and parse rate against gold lines
* ``weights``   load a model with or without its adapter; reload trained weights
* ``rewrite``   a local model (+ adapter) as the ``hf`` rewriter (``calibclip llm rewrite``)
* ``tiny``      ``tiny-qwen3``: the offline demonstration LM (``calibclip llm pretrain-tiny``)
"""
