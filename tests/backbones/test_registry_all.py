"""Every registered backbone family that can be built offline: load → encode → shape, unit norm, determinism.

A new family adds one entry to ``OFFLINE_SPECS`` (fixtures returning spec strings of models it builds
offline, e.g. from files its ``conftest.py`` fixture writes), or to ``NOT_OFFLINE`` with the reason.
"""
from __future__ import annotations

import pytest
import torch

from calibclip.backbones import list_backbones, load_backbone

# family -> fixture names returning offline-buildable spec strings for it
OFFLINE_SPECS = {
    "tiny": ["tiny_random_spec"],
    "openclip": ["openclip_vit_spec", "openclip_rn_spec"],
    "hf": ["hf_clip_spec", "hf_chinese_clip_spec", "hf_siglip_spec"],
    "cnclip": ["cnclip_vit_spec", "cnclip_rn_spec"],
    "longclip": ["longclip_vit_spec"],
    "fgclip": ["fgclip_spec"],
    "planted": ["planted_spec"],
}
NOT_OFFLINE: dict[str, str] = {}  # family -> why no offline model exists


@pytest.fixture
def tiny_random_spec() -> str:
    return "tiny:none"


@pytest.fixture
def planted_spec() -> str:
    return "planted:tiny:none"


@pytest.fixture
def openclip_vit_spec(openclip_arches) -> str:
    return "openclip:calibtest-vit:none"


@pytest.fixture
def openclip_rn_spec(openclip_arches) -> str:
    return "openclip:calibtest-rn:none"


@pytest.fixture
def hf_clip_spec(hf_clip_dir) -> str:
    return f"hf:{hf_clip_dir}"


@pytest.fixture
def hf_chinese_clip_spec(hf_chinese_clip_dir) -> str:
    return f"hf:{hf_chinese_clip_dir}"


@pytest.fixture
def hf_siglip_spec(hf_siglip_dir) -> str:
    return f"hf:{hf_siglip_dir}"


@pytest.fixture
def cnclip_vit_spec(cnclip_arches) -> str:
    return f"cnclip:{cnclip_arches['vit']}:none"


@pytest.fixture
def cnclip_rn_spec(cnclip_arches) -> str:
    return f"cnclip:{cnclip_arches['rn']}:none"


@pytest.fixture
def longclip_vit_spec(openclip_arches) -> str:
    return "longclip:calibtest-vit:none"


@pytest.fixture
def fgclip_spec(fgclip_dir) -> str:
    return f"fgclip:{fgclip_dir}"


def test_every_registered_family_is_covered():
    missing = set(list_backbones()) - set(OFFLINE_SPECS) - set(NOT_OFFLINE)
    assert not missing, f"add an offline spec fixture (or a NOT_OFFLINE reason) for: {sorted(missing)}"


@pytest.mark.parametrize("fixture", [name for names in OFFLINE_SPECS.values() for name in names])
def test_load_encode_shape_norm_determinism(fixture, request, pil_images):
    spec = request.getfixturevalue(fixture)
    backbone = load_backbone(spec, device="cpu")
    texts = ["a man in a red coat", "a woman with a black bag"]

    def encode() -> tuple[torch.Tensor, torch.Tensor]:
        return backbone.embed_images(pil_images[:1]), backbone.embed_texts(texts)

    images, text = encode()
    assert images.shape == (1, backbone.embed_dim) and text.shape == (2, backbone.embed_dim)
    torch.testing.assert_close(images.norm(dim=-1), torch.ones(1))
    torch.testing.assert_close(text.norm(dim=-1), torch.ones(2))
    images_again, text_again = encode()
    assert torch.equal(images, images_again) and torch.equal(text, text_again)
    assert not torch.allclose(text[0], text[1])  # the texts are told apart
    assert backbone.encode_text(backbone.tokenize([])).shape == (0, backbone.embed_dim)
