from calibclip.backbones.spec import parse_spec
from calibclip.errors import SpecError
import pytest


def test_parse_spec_forms():
    s = parse_spec("openclip:ViT-B-16:/data/w.bin")
    assert (s.family, s.arch, s.weights) == ("openclip", "ViT-B-16", "/data/w.bin")
    assert parse_spec("hf:C:/models/clip").weights == "C:/models/clip"
    assert parse_spec("tiny").weights is None
    assert parse_spec("tiny:none").random_init


@pytest.mark.parametrize("bad", ["", "nope:x", "openclip", "openclip::openai"])
def test_parse_spec_rejects(bad):
    with pytest.raises(SpecError):
        parse_spec(bad)
