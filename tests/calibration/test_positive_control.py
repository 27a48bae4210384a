"""The positive control: CVE and DCC find what is planted in ``planted:tiny`` and leave ``tiny`` alone."""
import pytest
import torch
import torch.nn.functional as F

from calibclip.backbones import load_backbone
from calibclip.backbones.planted import PLANTED_WORD
from calibclip.calibration.cve import calibrate_images, token_norm_ratio
from calibclip.calibration.dcc import discriminate_texts
from calibclip.config import CalibrationConfig
from calibclip.datasets.images import open_image

CAPTIONS = [f"a woman {PLANTED_WORD} a red coat and black shoes", f"the man is {PLANTED_WORD} blue jeans",
            f"a young man {PLANTED_WORD} a green shirt with a brown bag", f"a girl {PLANTED_WORD} yellow pants",
            f"a person {PLANTED_WORD} a white hat and a purple backpack"]


@pytest.fixture(scope="module")
def plain():
    return load_backbone("tiny", "cpu")


@pytest.fixture(scope="module")
def planted():
    return load_backbone("planted:tiny", "cpu")


@torch.no_grad()
def _pixels(backbone, paths):
    return torch.stack([backbone.preprocess(open_image(p)) for p in paths])


@torch.no_grad()
def test_cve_finds_the_planted_register_and_only_it(plain, planted, draw_people, tmp_path):
    pixels = _pixels(plain, draw_people(tmp_path / "people", 12))
    token = planted.plants["vision"]["token"]
    parts = planted.vit_parts(pixels)
    assert token_norm_ratio(parts.hidden, 1)[:, token - 1].min() > 5  # a high-norm token ...
    attention = planted.image_tokens(pixels, parts=parts).cls_attention
    assert attention[:, token].min() > 2 / attention[:, 1:].shape[1]  # ... holding ≥ 2× the uniform share
    out = calibrate_images(planted, pixels, CalibrationConfig())
    recall = out.dominant[:, token].float().mean()
    precision = out.dominant[:, token].sum() / out.dominant.sum().clamp_min(1)
    assert recall >= 0.9 and precision >= 0.9
    reference = plain.encode_image(pixels)  # the unplanted model
    before = F.cosine_similarity(out.original, reference).mean()
    after = F.cosine_similarity(out.calibrated, reference).mean()
    assert after > before  # suppressing the register brings the embedding back toward the unplanted one


@torch.no_grad()
def test_cve_leaves_the_unplanted_model_exactly_alone(plain, draw_people, tmp_path):
    pixels = _pixels(plain, draw_people(tmp_path / "people", 12))
    out = calibrate_images(plain, pixels, CalibrationConfig())
    assert not out.dominant.any() and torch.equal(out.calibrated, out.original)


@torch.no_grad()
def test_dcc_finds_the_planted_general_word(plain, planted, tmp_path):
    corpus = tmp_path / "captions.txt"  # the word is in every caption: general by its frequency
    corpus.write_text("\n".join(CAPTIONS * 4), encoding="utf-8")
    cfg = CalibrationConfig(dcc_corpus=str(corpus))
    out = discriminate_texts(planted, CAPTIONS, cfg)
    masked = [set(words) for words in out.masked_words]
    recall = sum(PLANTED_WORD in words for words in masked) / len(CAPTIONS)
    precision = sum(PLANTED_WORD in words for words in masked) / max(1, sum(len(w) for w in masked))
    assert recall == 1.0 and precision >= 0.5
    reference = plain.embed_texts(CAPTIONS)  # the unplanted model on the same captions
    before = F.cosine_similarity(out.original, reference).mean()
    after = F.cosine_similarity(out.discriminative, reference).mean()
    assert after > before
