"""Tiny random-weight models of the real architectures (open_clip, transformers), built offline.

Every model here is the real class from its library, shrunk by config so tests stay fast;
tokenizers are built from files we write (open_clip's bundled BPE merges, a small BERT vocab).
Nothing is downloaded: the hub is switched to offline mode for every test in this folder.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TEXT_CFG = {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}
OPENCLIP_CONFIGS = {
    "calibtest-vit": {"embed_dim": 32, "text_cfg": TEXT_CFG,
                      "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32,
                                     "patch_size": 16}},
    "calibtest-vit-quickgelu": {"embed_dim": 32, "quick_gelu": True, "text_cfg": TEXT_CFG,
                                "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32,
                                               "patch_size": 16}},
    "calibtest-rn": {"embed_dim": 32, "text_cfg": TEXT_CFG,
                     "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "patch_size": None}},
}
CN_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"一个穿红色外套的女人男子背着黑包",
            "a", "man", "woman", "in", "red", "coat", "with", "bag", "##s", ",", "."]
SIGLIP_VOCAB = ["<pad>", "</s>", "<unk>", "a", "man", "woman", "in", "red", "coat", "with", "bag", "black"]


@pytest.fixture(autouse=True)
def _hub_offline(monkeypatch):
    """No test may reach the network: huggingface_hub answers from the (empty) cache at once."""
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def openclip_arches(tmp_path_factory) -> list[str]:
    """Register tiny open_clip architectures (a ViT, its QuickGELU twin, an RN50-shaped ResNet)."""
    import open_clip

    folder = tmp_path_factory.mktemp("openclip_configs")
    for name, cfg in OPENCLIP_CONFIGS.items():
        (folder / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder)
    return list(OPENCLIP_CONFIGS)


@pytest.fixture(scope="session")
def openclip_vit(openclip_arches):
    from calibclip.backbones import load_backbone

    return load_backbone("openclip:calibtest-vit:none", device="cpu")


def _write_clip_tokenizer(folder: Path) -> None:
    """CLIPTokenizer files from open_clip's bundled BPE merges: the same ids as OpenAI's vocab."""
    from open_clip.tokenizer import SimpleTokenizer, default_bpe
    from transformers import CLIPTokenizer

    renamed = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {renamed.get(tok, tok): idx for tok, idx in SimpleTokenizer().encoder.items()}
    merges = gzip.open(default_bpe()).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    CLIPTokenizer.from_pretrained(folder).save_pretrained(folder)


def _tiny_vision(image_size: int = 32) -> dict:
    return {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
            "image_size": image_size, "patch_size": 8}


def _tiny_text(vocab_size: int, positions: int) -> dict:
    return {"vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": positions}


@pytest.fixture(scope="session")
def hf_clip_dir(tmp_path_factory) -> Path:
    """A ``save_pretrained`` folder of a tiny random ``CLIPModel`` with tokenizer and image processor."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    folder = tmp_path_factory.mktemp("hf_clip")
    text = {**_tiny_text(49408, 77), "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 49407}
    torch.manual_seed(0)
    CLIPModel(CLIPConfig(text_config=text, vision_config=_tiny_vision(), projection_dim=32)).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    _write_clip_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def hf_chinese_clip_dir(tmp_path_factory) -> Path:
    """A tiny random ``ChineseCLIPModel`` with a BERT tokenizer over a hand-written vocab."""
    import torch
    from transformers import BertTokenizer, ChineseCLIPConfig, ChineseCLIPImageProcessor, ChineseCLIPModel

    folder = tmp_path_factory.mktemp("hf_chinese_clip")
    torch.manual_seed(0)
    text = {**_tiny_text(len(CN_VOCAB), 52), "pad_token_id": 0}
    config = ChineseCLIPConfig(text_config=text, vision_config=_tiny_vision(),
                               projection_dim=32)
    ChineseCLIPModel(config).save_pretrained(folder)
    ChineseCLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(CN_VOCAB) + "\n", encoding="utf-8")
    BertTokenizer(vocab=str(folder / "vocab.txt"), model_max_length=52).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def hf_siglip_dir(tmp_path_factory) -> Path:
    """A tiny random ``SiglipModel``; its tokenizer mimics SigLIP's (no BOS, ``</s>`` appended, pad to 16)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, SiglipConfig, SiglipImageProcessor, SiglipModel

    folder = tmp_path_factory.mktemp("hf_siglip")
    torch.manual_seed(0)
    text = {**_tiny_text(len(SIGLIP_VOCAB), 16), "projection_size": 64,  # = vision width, as in real SigLIP
            "bos_token_id": None, "eos_token_id": 1, "pad_token_id": 1}
    config = SiglipConfig(text_config=text, vision_config=_tiny_vision())
    SiglipModel(config).save_pretrained(folder)
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(SIGLIP_VOCAB)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="</s>", pad_token="</s>", unk_token="<unk>",
                            model_max_length=16).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def pil_images() -> list[Image.Image]:
    """Three seeded noise images of different sizes and aspect ratios."""
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(96, 48), (40, 70), (64, 64)]]


CNCLIP_CONFIGS = {  # cn_clip model-config JSONs of a tiny ViT and a tiny Chinese BERT (cn_clip's real vocab size)
    "calibtest-cn-vit": {"embed_dim": 32, "image_resolution": 32, "vision_layers": 2, "vision_width": 64,
                         "vision_head_width": 32, "vision_patch_size": 8},
    "calibtest-cn-rn": {"embed_dim": 32, "image_resolution": 64, "vision_layers": "[1,1,1,1]", "vision_width": 16,
                        "vision_head_width": 32, "vision_patch_size": None},
    "calibtest-cn-bert": {"vocab_size": 21128, "text_attention_probs_dropout_prob": 0.1, "text_hidden_act": "gelu",
                          "text_hidden_dropout_prob": 0.1, "text_hidden_size": 32, "text_initializer_range": 0.02,
                          "text_intermediate_size": 64, "text_max_position_embeddings": 64,
                          "text_num_attention_heads": 2, "text_num_hidden_layers": 2, "text_type_vocab_size": 2},
}


@pytest.fixture(scope="session")
def cnclip_arches(tmp_path_factory) -> dict[str, str]:
    """Tiny Chinese-CLIP architectures in cn_clip's ``VISION@TEXT`` form: {"vit": ..., "rn": ...}."""
    pytest.importorskip("cn_clip.clip", reason="cn_clip is not installed: pip install --no-deps cn_clip six")
    from calibclip.backbones.cnclip import add_model_config

    folder = tmp_path_factory.mktemp("cnclip_configs")
    for name, cfg in CNCLIP_CONFIGS.items():
        (folder / f"{name}.json").write_text(json.dumps(cfg))
    add_model_config(folder)
    return {"vit": "calibtest-cn-vit@calibtest-cn-bert", "rn": "calibtest-cn-rn@calibtest-cn-bert"}


@pytest.fixture(scope="session")
def fgclip_dir(tmp_path_factory) -> Path:
    """A tiny random FG-CLIP folder: ``auto_map`` → ``fgclip_remote_code.py`` (a stand-in, not FG-CLIP's code)."""
    import importlib.util
    import shutil

    import torch
    from transformers import CLIPConfig, CLIPImageProcessor

    folder = tmp_path_factory.mktemp("fgclip")
    code = folder / "modeling_fgclip.py"
    shutil.copy(Path(__file__).with_name("fgclip_remote_code.py"), code)
    spec = importlib.util.spec_from_file_location("fgclip_stand_in", code)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = {**_tiny_text(49408, 77), "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 49407}
    config = CLIPConfig(text_config=text, vision_config=_tiny_vision(), projection_dim=32)
    config.auto_map = {"AutoModelForCausalLM": "modeling_fgclip.FGCLIPModel"}
    torch.manual_seed(0)
    module.FGCLIPModel(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    _write_clip_tokenizer(folder)
    return folder


@pytest.fixture
def load_error_line():
    """``load_error_line(spec, error)``: loading ``spec`` raises ``error``; its message is one line, returned."""
    from calibclip.backbones import load_backbone

    def check(spec: str, error: type[Exception]) -> str:
        with pytest.raises(error) as err:
            load_backbone(spec, device="cpu")
        line = err.value.one_line()
        assert "\n" not in line, spec
        return line
    return check
