"""``cnclip`` backbone: Chinese-CLIP (OFA-Sys/Chinese-CLIP) built from the ``cn_clip`` package's own parts.

Spec: ``cnclip:ARCH[:/path/clip_cn_vit-b-16.pt|none]`` with ARCH one of cn_clip's names
(``ViT-B-16``, ``ViT-L-14``, ``ViT-L-14-336``, ``ViT-H-14``, ``RN50``) or cn_clip's own
``VISION@TEXT`` form naming two of its model-config JSONs (``ViT-B-16@RBT3-chinese``).
The model is cn_clip's ``CLIP`` from those JSONs, the tokenizer its bundled BERT vocabulary
at context length 52 (what CsdCLIP uses), the transform its ``image_transform(resolution)``.
Weights are cn_clip checkpoints (``{"state_dict": {"module.…": …}}``); a bare architecture
looks in cn_clip's download folder and the Hugging Face cache (it never downloads).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from calibclip.backbones.base import Backbone, VitParts
from calibclip.backbones.openclip import _in_proj
from calibclip.backbones.weights_file import load_state, read_weights_file
from calibclip.errors import CheckpointMismatch, SpecError, WeightsNotFound
from calibclip.types import BackboneSpec

CONTEXT_LENGTH = 52
HUB_ORG = "OFA-Sys"  # where cn_clip's own loader downloads its checkpoints from
_CONFIG_DIRS: list[Path] = []  # extra model-config folders (``add_model_config``)


def _import_cn_clip() -> Any:
    try:
        import cn_clip.clip
        import cn_clip.clip.model
        import cn_clip.clip.utils
    except ImportError as exc:
        raise SpecError(f"the 'cnclip' backbone needs the cn_clip package (missing module {exc.name!r})",
                        "pip install --no-deps cn_clip six  (cn_clip pins an old lmdb; its other needs, "
                        "torch, torchvision, numpy and tqdm, are already calibclip's)") from exc
    return cn_clip.clip


def add_model_config(folder: str | Path) -> None:
    """Make the ``*.json`` model configs in ``folder`` usable as ``VISION@TEXT`` names (like open_clip's)."""
    _CONFIG_DIRS.append(Path(folder))


def _config_file(cn_clip: Any, name: str) -> Path:
    dirs = [*_CONFIG_DIRS, Path(cn_clip.__file__).parent / "model_configs"]
    for folder in dirs:
        if (folder / f"{name}.json").is_file():
            return folder / f"{name}.json"
    known = sorted({p.stem for d in dirs for p in d.glob("*.json")})
    raise SpecError(f"no Chinese-CLIP model config named {name!r}", f"known configs: {', '.join(known)}")


def _model_info(cn_clip: Any, arch: str) -> tuple[dict[str, Any], int]:
    """cn_clip's ``CLIP`` keyword arguments and input resolution for an architecture name."""
    preset = cn_clip.utils._MODEL_INFO.get(arch)
    if preset is None and "@" not in arch:
        raise SpecError(f"unknown Chinese-CLIP architecture {arch!r}",
                        f"use one of {', '.join(cn_clip.available_models())} or VISION@TEXT config names")
    vision, _, text = (preset["struct"] if preset else arch).partition("@")
    info: dict[str, Any] = {}
    for name in (vision, text):
        try:
            info.update(json.loads(_config_file(cn_clip, name).read_text(encoding="utf-8")))
        except json.JSONDecodeError as exc:
            raise SpecError(f"Chinese-CLIP model config {name!r} is not valid JSON: {exc}") from exc
    if isinstance(info.get("vision_layers"), str):  # ResNet stage depths are stored as "[3,4,6,3]"
        info["vision_layers"] = json.loads(info["vision_layers"])
    return info, int(preset["input_resolution"] if preset else info["image_resolution"])


def _cached_checkpoint(cn_clip: Any, arch: str) -> Path:
    """A bare architecture: the file in cn_clip's download folder or the Hugging Face cache; never downloaded."""
    if arch not in cn_clip.utils._MODELS:
        raise WeightsNotFound(f"{arch} has no released Chinese-CLIP weights",
                              f"pass cnclip:{arch}:/path/to/checkpoint.pt or cnclip:{arch}:none")
    repo, file = cn_clip.utils._MODELS[arch]
    local = Path("~/.cache/clip").expanduser() / file
    if local.is_file():
        return local
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(f"{HUB_ORG}/{repo}", filename=file, local_files_only=True))
    except Exception as exc:  # not cached (or no huggingface_hub): one answer
        raise WeightsNotFound(
            f"no local Chinese-CLIP {arch} weights (looked in ~/.cache/clip and the Hugging Face cache)",
            f"download {file} from https://huggingface.co/{HUB_ORG}/{repo} and pass "
            f"cnclip:{arch}:/path/to/{file}") from exc


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    """cn_clip's checkpoint layout: ``{"state_dict": ...}`` whose keys may carry DDP's ``module.``."""
    blob = read_weights_file(path, "Chinese-CLIP checkpoint", "cn_clip checkpoint (clip_cn_*.pt)")
    state = blob.get("state_dict", blob)
    if not isinstance(state, dict) or not state:
        raise CheckpointMismatch(f"{path} holds no state dict", "expected a cn_clip checkpoint with 'state_dict'")
    return {k.removeprefix("module."): v for k, v in state.items() if "bert.pooler" not in k}


def create_cn_clip(arch: str, weights: str | None) -> tuple[Any, int]:
    """Build cn_clip's ``CLIP`` for ``arch`` (float32, eval) with the spec's weights → (model, resolution)."""
    cn_clip = _import_cn_clip()
    info, resolution = _model_info(cn_clip, arch)
    path = None if weights == "none" else (Path(weights).expanduser() if weights else _cached_checkpoint(cn_clip, arch))
    state = _load_state(path) if path is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = cn_clip.model.CLIP(**info)
    if state is not None:
        load_state(model, state, path, f"Chinese-CLIP {arch}")
    return model.float().eval(), resolution


class CnClipBackbone(Backbone):
    """Adapter over cn_clip's ``CLIP`` (ViT or ResNet image tower, Chinese RoBERTa text tower).

    Example:
        >>> from calibclip.backbones import load_backbone
        >>> model = load_backbone("cnclip:ViT-B-16:/models/clip_cn_vit-b-16.pt", device="cpu")  # doctest: +SKIP
        >>> model.encode_text(model.tokenize(["穿红色外套的女人"])).shape  # doctest: +SKIP
        torch.Size([1, 512])
    """

    name = "cnclip"
    context_length = CONTEXT_LENGTH

    def __init__(self, spec: BackboneSpec, device: torch.device, model: Any, resolution: int) -> None:
        super().__init__(spec, device)
        cn_clip = _import_cn_clip()
        self.model = model.to(device).eval()
        self.transform: Callable = cn_clip.image_transform(resolution)
        self._cn_clip = cn_clip
        self._vocab = cn_clip._tokenizer.vocab
        self.embed_dim = int(model.text_projection.shape[1])
        self.image_size = (resolution, resolution)
        self.supports_image_calibration = isinstance(model.visual, cn_clip.model.VisualTransformer)

    @classmethod
    def load(cls, spec: BackboneSpec, device: torch.device) -> "CnClipBackbone":
        """Build from ``cnclip:ARCH[:PATH|none]``."""
        model, resolution = create_cn_clip(spec.arch or "", spec.weights)
        return cls(spec, device, model, resolution)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image)

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """cn_clip's own tokenizer: [CLS] words[:50] [SEP], so truncation keeps the end token."""
        return self._cn_clip.tokenize(list(texts), context_length=self.context_length)

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_image(pixels.to(self.device)), dim=-1)

    @torch.no_grad()
    def encode_text(self, batch: torch.Tensor) -> torch.Tensor:
        if not len(batch):
            return torch.empty(0, self.embed_dim, device=self.device)
        return F.normalize(self.model.encode_text(batch.to(self.device)), dim=-1)

    # -- calibration hooks ------------------------------------------------------
    def _vit_parts(self, pixels: torch.Tensor) -> VitParts:
        if not self.supports_image_calibration:
            return super()._vit_parts(pixels)
        visual = self.model.visual
        blocks = visual.transformer.resblocks
        seen: dict[str, torch.Tensor] = {}
        handle = blocks[-1].register_forward_pre_hook(lambda _module, args: seen.update(x=args[0]))
        try:  # one plain pass keeps the last block's (sequence-first) input
            visual(pixels.to(self.device))
        finally:
            handle.remove()
        last = blocks[-1]
        return VitParts(
            hidden=seen["x"].transpose(0, 1), ln_1=last.ln_1, qkv=_in_proj(last.attn), out_proj=last.attn.out_proj,
            ln_2=last.ln_2, mlp=last.mlp, head=lambda t: visual.ln_post(t) @ visual.proj,
            num_heads=last.attn.num_heads, grid=tuple(visual.grid_size))

    def _text_attention(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One ``encode_text`` pass; the last BERT layer returns its probabilities, [CLS]'s row is kept."""
        ids = batch.to(self.device)
        if not len(ids):
            return self.encode_text(ids), ids.float(), ids[:, 0]
        attention = self.model.bert.encoder.layer[-1].attention.self
        seen: dict[str, torch.Tensor] = {}

        def keep_probs(_module: Any, _args: tuple, out: tuple) -> None:
            seen["probs"] = out[1]

        before = attention.output_attentions
        attention.output_attentions = True  # only this layer; the encoder passes hidden states on unchanged
        handle = attention.register_forward_hook(keep_probs)
        try:
            embedding = self.encode_text(ids)
        finally:
            handle.remove()
            attention.output_attentions = before
        end = (ids == self._vocab["[SEP]"]).int().argmax(dim=-1)  # words stop at [SEP]
        return embedding, seen["probs"][:, :, 0].float().mean(dim=1), end

    def _word_token_count(self, word: str) -> int:
        return len(self._cn_clip._tokenizer.tokenize(word))
