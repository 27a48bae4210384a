"""The dominant attribute of a person caption: the main garment and its colour ("a red coat").

CalibCLIP's premise is that retrieval leans on a dominant visual pattern,
above all clothing colour. The dual curriculum needs that pattern per pair:

* batches: people who share it are hard negatives of each other. Generated
  sets take it from ``synth_meta.json`` (exact: garment + garment colour);
  a real dataset from its captions (``dominant_key``);
* captions: the words that name it are removed (``mask_dominant``) or its
  colour is replaced by another one (``swap_dominant``, a hard negative text).

Rule (English captions): the first colour word followed, within four words,
by an upper-body garment noun ("a red coat", "a black and white striped
shirt"). Garment synonyms fold into coat / dress / top, as the synthetic
generator draws them. Captions without such a phrase (short, Chinese) have
no dominant attribute and are left as they are.
"""
from __future__ import annotations

import re

import numpy as np

COLOURS = ("red", "blue", "black", "white", "green", "yellow", "grey", "gray", "brown", "pink", "purple",
           "orange", "beige", "navy", "khaki", "dark", "light")
GARMENTS = {"coat": "coat", "jacket": "coat", "overcoat": "coat", "parka": "coat", "dress": "dress",
            "gown": "dress", "top": "top", "shirt": "top", "t-shirt": "top", "tshirt": "top", "sweater": "top",
            "blouse": "top", "hoodie": "top", "jumper": "top", "sweatshirt": "top", "vest": "top",
            "cardigan": "top"}
_SHADES = ("dark", "light")  # modifiers, never the colour of a key or a swap
_WINDOW = 4
_WORD = re.compile(r"^(\W*)([\w-]+)(\W*)$")


def _bare(token: str) -> str:
    match = _WORD.match(token)
    return match[2].lower() if match else ""


def dominant_span(caption: str) -> tuple[int, int] | None:
    """(first, last) whitespace-token index of the dominant colour + garment phrase, or None."""
    words = [_bare(t) for t in caption.split()]
    for i, word in enumerate(words):
        if word not in COLOURS or word in _SHADES:
            continue
        for j in range(i + 1, min(len(words), i + 1 + _WINDOW)):
            if words[j] in GARMENTS:
                return i, j
    return None


def dominant_key(caption: str) -> str | None:
    """"red coat"-style key of a caption's dominant attribute (garment synonyms folded), or None."""
    span = dominant_span(caption)
    if span is None:
        return None
    words = caption.split()
    return attribute_key(_bare(words[span[0]]), GARMENTS[_bare(words[span[1]])])


def attribute_key(colour: str, garment: str) -> str:
    """The key both the captions and the generator's exact attributes map to (grey and gray are one)."""
    return f"{'grey' if colour == 'gray' else colour} {garment}"


def mask_dominant(caption: str) -> str:
    """Remove the dominant phrase's words (colour through garment); its trailing punctuation stays."""
    span = dominant_span(caption)
    if span is None:
        return caption
    words = caption.split()
    first, last = span
    tail = _WORD.match(words[last])
    kept = words[:first] + words[last + 1:]
    if tail and tail[3] and first > 0:
        kept[first - 1] += tail[3]
    return " ".join(kept)


def swap_dominant(caption: str, rng: np.random.Generator) -> str | None:
    """The caption with its dominant colour replaced by another colour, or None without a dominant phrase."""
    span = dominant_span(caption)
    if span is None:
        return None
    words = caption.split()
    match = _WORD.match(words[span[0]])
    current = {"gray": "grey"}.get(match[2].lower(), match[2].lower())
    others = [c for c in COLOURS if c not in (*_SHADES, "gray", current)]
    words[span[0]] = f"{match[1]}{others[int(rng.integers(len(others)))]}{match[3]}"
    return " ".join(words)


__all__ = ["COLOURS", "GARMENTS", "dominant_span", "dominant_key", "attribute_key", "mask_dominant",
           "swap_dominant"]
