"""Index-test fixtures (the micro model and photo folders are in ``tests/conftest.py``)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Micro models: thread hand-offs cost more than the maths (and stall on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def counting_backbone(micro_spec):
    """The micro TinyCLIP as a subclass that counts the images its vision tower encodes."""
    from calibclip.backbones.spec import parse_spec
    from calibclip.backbones.tiny import TinyBackbone

    class CountingTiny(TinyBackbone):
        encoded = 0

        def vit_parts(self, pixels):
            self.encoded += len(pixels)
            return super().vit_parts(pixels)

        def encode_image(self, pixels):
            self.encoded += len(pixels)
            return super().encode_image(pixels)

    return CountingTiny.load(parse_spec(micro_spec), torch.device("cpu"))
