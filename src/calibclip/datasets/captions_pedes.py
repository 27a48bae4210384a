"""Natural, varied captions for a ``Person``, in the style of CUHK-PEDES annotations.

Every caption names the dominant garment; the small details are split between
an image's two captions (some in one, some in the other, some in both), so each
caption alone is partial but the pair describes the whole person. Wording varies
by template, synonyms ("coat"/"jacket", "carrying"/"holding"/"with") and order.
"""
from __future__ import annotations

import re

import numpy as np

from calibclip.datasets.draw_person import Person

_SUBJECT = {"man": ("A man", "The man", "A young man", "This man", "The male pedestrian"),
            "woman": ("A woman", "The woman", "A young woman", "This lady", "The female pedestrian")}
_NEUTRAL = ("A person", "The pedestrian", "This person")
_SALIENT_SUBJECT = {"man": ("a man", "man", "a young man", "a guy"),
                    "woman": ("a woman", "woman", "a young woman", "a lady")}
_PRONOUN = {"man": "He", "woman": "She"}
_GARMENT = {"coat": ("coat", "jacket", "long coat", "overcoat"), "dress": ("dress", "long dress"),
            "top": ("t-shirt", "shirt", "top", "sweater")}
_LOWER = {"trousers": ("trousers", "pants", "jeans"), "shorts": ("shorts",), "skirt": ("skirt", "short skirt")}
_BAG = {"backpack": ("backpack",), "handbag": ("handbag", "purse"), "shoulder bag": ("shoulder bag", "bag")}
_BAG_VERB = {"backpack": ("is carrying", "has", "is wearing"), "handbag": ("is holding", "is carrying", "has"),
             "shoulder bag": ("is carrying", "has")}
_HAT = {"cap": ("cap", "baseball cap"), "beanie": ("beanie", "knit hat")}
_SHOES = ("shoes", "sneakers", "boots")
_GLASSES = ("glasses", "a pair of glasses", "spectacles")
_WEAR = ("is wearing", "wears", "is dressed in", "has on")
_WEAR_SMALL = ("is wearing", "wears", "has on")
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")
# the wording captions use, for readers that find what a caption mentions (``pedes_gold``)
SUBJECTS = tuple(s for options in (*_SUBJECT.values(), _NEUTRAL) for s in options)
NOUNS = {"garment": _GARMENT, "lower": _LOWER, "bag": _BAG, "hat": _HAT, "shoes": _SHOES, "glasses": _GLASSES}


def caption_pair(person: Person, rng: np.random.Generator) -> tuple[str, str]:
    """Two captions of one photo that together mention every detail of ``person``."""
    details = _details(person, rng)
    # each detail goes to caption 0, caption 1, or (one time in four) both
    where = rng.choice([0, 1, 2], size=len(details), p=[0.375, 0.375, 0.25])
    out = []
    for k in (0, 1):
        mine = [d for d, w in zip(details, where) if w in (k, 2)]
        out.append(_caption(person, [mine[i] for i in rng.permutation(len(mine))], rng))
    return out[0], out[1]


def salient_caption(person: Person, rng: np.random.Generator) -> str:
    """Subject and dominant garment only, as web alt-text says it: "a woman in a red coat"."""
    subject = _pick(rng, _SALIENT_SUBJECT[person.gender])
    garment = f"{person.garment_colour} {_pick(rng, _GARMENT[person.garment])}"
    shape = int(rng.integers(3))
    if shape == 0:
        return f"{subject} in {_a(garment)}"
    if shape == 1:
        return f"{subject} wearing {_a(garment)}"
    return f"{subject} in {garment}"  # terse: "woman in red coat"


def person_captions(person: Person, rng: np.random.Generator, lang: str = "en",
                    salient_share: float = 0.0) -> tuple[str, str]:
    """Two captions of one photo: detailed (``caption_pair``, or its Chinese twin), each replaced by a
    salient-only caption with probability ``salient_share`` (web style). Share 0 in English is exactly
    ``caption_pair``."""
    from calibclip.datasets.captions_pedes_zh import caption_pair_zh, salient_caption_zh

    detailed = caption_pair_zh(person, rng) if lang == "zh" else caption_pair(person, rng)
    if salient_share <= 0.0:
        return detailed
    salient = salient_caption_zh if lang == "zh" else salient_caption
    first, second = (salient(person, rng) if rng.random() < salient_share else text for text in detailed)
    return first, second


def caption_tokens(caption: str) -> list[str]:
    """Lower-case word tokens, like CUHK-PEDES ``processed_tokens``."""
    return _WORD.findall(caption.lower())


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _a(phrase: str) -> str:
    return f"{'an' if phrase[0] in 'aeiou' else 'a'} {phrase}"


def _garment(person: Person, rng: np.random.Generator, stripes_as_with: bool = True) -> str:
    noun = _pick(rng, _GARMENT[person.garment])
    colour = person.garment_colour
    if not person.stripes:
        return _a(f"{colour} {noun}")
    if stripes_as_with and rng.random() < 0.5:
        return _a(f"{colour} {noun} with {person.stripes} stripes")
    return _a(f"{colour} and {person.stripes} striped {noun}")


def _phrase(rng: np.random.Generator, noun: str, verbs: tuple[str, ...] = _WEAR_SMALL) -> tuple[str, str]:
    return noun, f"{_pick(rng, verbs)} {noun}"


def _details(person: Person, rng: np.random.Generator) -> list[tuple[str, str]]:
    """(noun phrase, verb phrase) for each small detail of ``person``."""
    p = person
    hair = f"{p.hair_length} {p.hair_colour} hair"
    out = [(hair, f"has {hair}"), _phrase(rng, f"{p.shoes_colour} {_pick(rng, _SHOES)}")]
    if p.lower == "skirt":
        out.append(_phrase(rng, _a(f"{p.lower_colour} {_pick(rng, _LOWER[p.lower])}"), _WEAR))
    elif p.lower:
        out.append(_phrase(rng, f"{p.lower_colour} {_pick(rng, _LOWER[p.lower])}", _WEAR))
    if p.bag != "none":
        out.append(_phrase(rng, _a(f"{p.bag_colour} {_pick(rng, _BAG[p.bag])}"), _BAG_VERB[p.bag]))
    if p.hat != "none":
        out.append(_phrase(rng, _a(f"{p.hat_colour} {_pick(rng, _HAT[p.hat])}")))
    if p.glasses:
        out.append(_phrase(rng, _pick(rng, _GLASSES)))
    if p.umbrella:
        out.append(_phrase(rng, _a(f"{p.umbrella} umbrella"), ("is holding", "is carrying")))
    return out


def _caption(person: Person, details: list[tuple[str, str]], rng: np.random.Generator) -> str:
    """One caption: the garment first, then the given details, in one of three sentence shapes."""
    subject = _pick(rng, _NEUTRAL) if rng.random() < 0.1 else _pick(rng, _SUBJECT[person.gender])
    pronoun = _PRONOUN[person.gender]
    style = int(rng.integers(3))
    garment = _garment(person, rng, stripes_as_with=style != 0)
    if style == 0:  # "A woman in a red coat with a brown backpack and white shoes."
        return _sentence(f"{subject} in {garment}", [d[0] for d in details], " with ")
    if style == 1:  # "The woman is wearing a red coat and black pants. She is carrying ..."
        head = _join([f"{_pick(rng, _WEAR)} {garment}", *[d[1] for d in details[:1]]])
        rest = [d[1] for d in details[1:]]
        tail = [_sentence(pronoun, rest[i:i + 2], " ") for i in range(0, len(rest), 2)]
        return " ".join([f"{subject} {head}.", *tail])
    # "This man has short black hair and a green cap. He is wearing a blue shirt."
    first, later = details[: len(details) // 2], details[len(details) // 2:]
    opening = _sentence(subject, [d[1] for d in first], " ") if first else ""
    wear = f"{_pick(rng, _WEAR)} {garment}"
    closing = _sentence(pronoun if first else subject, [wear, *[d[1] for d in later]], " ")
    return " ".join(s for s in (opening, closing) if s)


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _sentence(head: str, parts: list[str], glue: str) -> str:
    body = _join(parts)
    return f"{head}{glue}{body}." if body else f"{head}."
