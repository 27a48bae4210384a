"""``planted:`` — the positive control: a tiny model with a dominant token planted in each tower.

Calibration must find what it exists to correct, and a backbone without it
(``tiny``) cannot show that. This control plants the pathology CalibCLIP
describes, by the mechanism reported for register neurons in CLIP ViTs (one
MLP neuron firing hard on a background patch writes a high-norm token that the
CLS token then attends to; Darcet et al. 2023, Jiang et al. 2025 "Vision
Transformers Don't Need Trained Registers"):

* vision: in the block two before the last, one MLP neuron is driven to a large
  activation at a known background patch (top-left, ``PLANTED_PATCH``). The
  neuron is the one whose output the last block's CLS query attends to most,
  so the patch becomes a high-norm, high-attention, low-information token;
* text: the same neuron trick in the text tower on every occurrence of a
  general word (``PLANTED_WORD``, in most person captions), so the end token
  leans on it.

Spec: ``planted:tiny`` (the bundled model), ``planted:tiny:/path.pt`` or
``planted:tiny:none``. Everything else is the ``tiny`` adapter unchanged.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn

from calibclip.backbones.spec import parse_spec
from calibclip.backbones.tiny import TinyBackbone
from calibclip.errors import SpecError
from calibclip.types import BackboneSpec

PLANTED_PATCH = (0, 0)    # (row, col) of the patch the vision register is planted on
PLANTED_WORD = "wearing"  # the general word the text plant attaches to
NORM_FACTOR = 20.0        # planted token norm / the median token norm at the plant


def _candidates(mlp: nn.Sequential, key: Callable[[torch.Tensor], torch.Tensor], query: torch.Tensor,
                count: int = 8) -> list[int]:
    """Hidden neurons whose output direction, seen as a last-block key, ``query`` attends to most."""
    directions = mlp[2].weight.detach().T  # (hidden, width): what each neuron writes into the residual
    logits = (key(directions) * query).sum(dim=-1)
    return logits.topk(min(count, logits.numel())).indices.tolist()


def _strongest(mlp: nn.Sequential, candidates: list[int], value: Callable[[int], float],
               where: Callable[[], torch.Tensor], share: Callable[[], float]) -> tuple[int, float]:
    """Of ``candidates``, the neuron whose plant gives the largest attention ``share()`` (tried one by one)."""
    best, best_share = candidates[0], -1.0
    for neuron in candidates:
        handle = mlp[1].register_forward_hook(_activation_hook(neuron, value(neuron), where))
        try:
            got = share()
        finally:
            handle.remove()
        if got > best_share:
            best, best_share = neuron, got
    return best, best_share


def _activation_hook(neuron: int, value: float, where: Callable[[], torch.Tensor]) -> Callable:
    """Forward hook on an MLP's activation: ``neuron`` set to ``value`` at the (N, L) positions ``where()``."""
    def hook(_module: nn.Module, _inputs: tuple, out: torch.Tensor) -> torch.Tensor:
        mask = where().to(out.device)[..., : out.shape[1]]
        out = out.clone()
        out[..., neuron] = torch.where(mask, torch.full_like(out[..., neuron], value), out[..., neuron])
        return out
    return hook


def _last_block_key(block: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    width = block.ln_1.normalized_shape[0]
    return lambda x: block.attn.qkv(block.ln_1(x))[..., width:2 * width]


def _query(block: nn.Module, states: torch.Tensor) -> torch.Tensor:
    width = states.shape[-1]
    return block.attn.qkv(block.ln_1(states))[..., :width].mean(dim=0)


def _scale(mlp: nn.Sequential, neuron: int, states: torch.Tensor) -> float:
    """Activation that makes the planted token ``NORM_FACTOR`` × the median token norm."""
    column = mlp[2].weight.detach()[:, neuron].norm()
    return float(NORM_FACTOR * states.norm(dim=-1).median() / column.clamp_min(1e-12))


@torch.no_grad()
def plant_vision_register(backbone: TinyBackbone) -> dict[str, Any]:
    """Install the vision plant; returns where it is (block, neuron, patch token index, activation)."""
    visual = backbone.model.visual
    blocks, (rows, cols) = visual.blocks, visual.grid
    index = len(blocks) - 3
    probe = backbone.normalize(torch.rand(8, 3, *backbone.image_size, generator=torch.Generator().manual_seed(0)))
    probe = probe.to(backbone.device)
    x = visual.stem(probe)
    for block in blocks[:index + 1]:
        x, _ = block(x)
    states = x
    for block in blocks[index + 1:-1]:
        x, _ = block(x)
    mlp, token = blocks[index].mlp, 1 + PLANTED_PATCH[0] * cols + PLANTED_PATCH[1]
    candidates = _candidates(mlp, _last_block_key(blocks[-1]), _query(blocks[-1], x[:, 0]))

    def where() -> torch.Tensor:
        mask = torch.zeros(1, 1 + rows * cols, dtype=torch.bool)
        mask[0, token] = True
        return mask

    def share() -> float:
        return float(backbone.image_tokens(probe).cls_attention[:, token].mean())
    neuron, got = _strongest(mlp, candidates, lambda n: _scale(mlp, n, states[:, 1:]), where, share)
    value = _scale(mlp, neuron, states[:, 1:])
    mlp[1].register_forward_hook(_activation_hook(neuron, value, where))
    return {"block": index, "neuron": neuron, "token": token, "activation": value, "probe_attention": got}


@torch.no_grad()
def plant_text_word(backbone: TinyBackbone) -> dict[str, Any]:
    """Install the text plant on ``PLANTED_WORD``; returns where it is."""
    text = backbone.model.text
    word_id = backbone.tokenizer.stoi.get(PLANTED_WORD)
    if word_id is None:
        raise SpecError(f"the planted control needs {PLANTED_WORD!r} in the tiny vocabulary",
                        "use planted:tiny (the bundled model)")
    captions = [f"a man {PLANTED_WORD} a red coat and black shoes", f"the woman is {PLANTED_WORD} blue pants",
                f"a person {PLANTED_WORD} a black bag", f"a young woman {PLANTED_WORD} a white shirt with a hat"]
    ids, eot = (t.to(backbone.device) for t in backbone.tokenize(captions))
    index = len(text.blocks) - 3
    length = ids.shape[1]
    x = text.token_embedding(ids) + text.positional_embedding[:length]
    mask = text.causal_mask[:length, :length]
    for block in text.blocks[:index + 1]:
        x, _ = block(x, mask)
    states = x
    for block in text.blocks[index + 1:-1]:
        x, _ = block(x, mask)
    rows = torch.arange(ids.shape[0], device=ids.device)
    mlp = text.blocks[index].mlp
    candidates = _candidates(mlp, _last_block_key(text.blocks[-1]), _query(text.blocks[-1], x[rows, eot]))
    current: dict[str, torch.Tensor] = {"ids": ids}
    text.register_forward_pre_hook(lambda _m, args: current.__setitem__("ids", args[0]))

    def where() -> torch.Tensor:
        return current["ids"] == word_id

    def share() -> float:
        _, attention, _ = backbone._text_attention((ids, eot))
        return float(attention[ids == word_id].mean())
    neuron, got = _strongest(mlp, candidates, lambda n: _scale(mlp, n, states[ids != 0]), where, share)
    value = _scale(mlp, neuron, states[ids != 0])
    mlp[1].register_forward_hook(_activation_hook(neuron, value, where))
    return {"block": index, "neuron": neuron, "word": PLANTED_WORD, "activation": value, "probe_attention": got}


class PlantedBackbone(TinyBackbone):
    """The positive control: a tiny model with a planted vision register and a planted general word."""

    name = "planted"

    @classmethod
    def load(cls, spec: BackboneSpec, device: torch.device) -> "PlantedBackbone":
        inner = TinyBackbone.load(parse_spec(spec.weights or "tiny"), device)
        backbone = cls(spec, device, inner.model)
        backbone.word_df = inner.word_df
        backbone.plants = {"vision": plant_vision_register(backbone), "text": plant_text_word(backbone)}
        return backbone


__all__ = ["PlantedBackbone", "plant_vision_register", "plant_text_word", "PLANTED_PATCH", "PLANTED_WORD"]
