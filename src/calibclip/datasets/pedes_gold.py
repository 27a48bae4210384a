"""Gold AND clauses for the synthetic person captions, from the generator's exact attributes.

A caption (``captions_pedes``) mentions the dominant garment and some of the
person's details. Its gold decomposition has one clause per attribute the
caption mentions, each with the caption's subject: "A young woman has on white
shoes. She has a red handbag." → "a young woman wearing white shoes", "a young
woman with a red handbag". An attribute counts as mentioned when its exact
value appears in the caption's wording (colour + one of the generator's nouns
for it); the clause uses that wording, the verb the caption uses for carried
things (carrying / holding / wearing, else "with") and "wearing" or "with" for
the rest. Person captions have no negations, so the NOT list is empty.

Example:
    >>> caption_gold("A man in a red coat with black shoes.", person)  # person: the man's attributes
    Clauses(raw=..., and_clauses=('a man wearing a red coat', 'a man wearing black shoes'), ...)
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from calibclip.datasets.captions_pedes import NOUNS, SUBJECTS
from calibclip.datasets.synthetic_pedes import META_FILE, read_meta
from calibclip.errors import CorruptData
from calibclip.types import Clauses

_CARRY_VERB = re.compile(r"\b(carrying|carries|holding|holds|wearing|wears)\s+(?:an?\s+)?$")
_VERB_FORM = {"carries": "carrying", "holds": "holding", "wears": "wearing"}


def _nouns(options: tuple[str, ...]) -> str:
    return "|".join(re.escape(n) for n in sorted(options, key=len, reverse=True))


def _patterns(p: dict[str, Any]) -> list[tuple[str, str]]:
    """(regex of the attribute's wording, verb) for every attribute ``p`` has."""
    garment, colour, stripes = _nouns(NOUNS["garment"][p["garment"]]), p["garment_colour"], p["stripes"]
    out = [(rf"{colour} and {stripes} striped (?:{garment})|{colour} (?:{garment}) with {stripes} stripes"
            if stripes else rf"{colour} (?:{garment})", "wearing"),
           (rf"{p['hair_length']} {p['hair_colour']} hair", "with"),
           (rf"{p['shoes_colour']} (?:{_nouns(NOUNS['shoes'])})", "wearing")]
    if p["lower"]:
        out.append((rf"{p['lower_colour']} (?:{_nouns(NOUNS['lower'][p['lower']])})", "wearing"))
    if p["bag"] != "none":
        out.append((rf"{p['bag_colour']} (?:{_nouns(NOUNS['bag'][p['bag']])})", ""))
    if p["hat"] != "none":
        out.append((rf"{p['hat_colour']} (?:{_nouns(NOUNS['hat'][p['hat']])})", "wearing"))
    if p["glasses"]:
        out.append((_nouns(NOUNS["glasses"]), "wearing"))
    if p["umbrella"]:
        out.append((rf"{p['umbrella']} umbrella", ""))
    return out


def _subject(caption: str) -> str:
    """The caption's subject with "a": "The female pedestrian ..." → "a female pedestrian"."""
    for subject in sorted(SUBJECTS, key=len, reverse=True):
        if caption.startswith(subject + " "):
            return "a " + subject.split(" ", 1)[1].lower()
    raise CorruptData(f"person caption without a known subject: {caption[:60]!r}")


def caption_gold(caption: str, person: dict[str, Any]) -> Clauses:
    """The gold decomposition of one person caption, given the person's attributes (see the module doc)."""
    subject, found = _subject(caption), []
    for k, (pattern, verb) in enumerate(_patterns(person)):
        match = re.search(rf"\b(?:(?:an?|a pair of) )?(?:{pattern})\b", caption)
        if not match and k == 0:
            raise CorruptData(f"caption does not name the person's garment: {caption[:60]!r}",
                              "person gold needs captions written by the synthetic generator")
        if not match:
            continue
        if not verb:                                    # carried things keep the caption's verb
            said = _CARRY_VERB.search(caption, 0, match.start())
            verb = _VERB_FORM.get(said.group(1), said.group(1)) if said else "with"
        found.append((match.start(), f"{subject} {verb} {match.group(0)}"))
    return Clauses(raw=caption, optimized=caption, and_clauses=tuple(text for _, text in sorted(found)),
                   not_clauses=())


def pedes_gold(root: str | Path, split: str | None = None) -> list[Clauses]:
    """Gold decompositions of every caption in a generated person set (``calibclip synth pedes``).

    ``root`` is the folder holding ``synth_meta.json``; ``split`` keeps one split.
    """
    meta = read_meta(Path(root) / META_FILE)
    people = {p["pid"]: p["attributes"] for p in meta["identities"]}
    return [caption_gold(caption, people[image["pid"]]) for image in meta["images"]
            if split in (None, image["split"]) for caption in image["captions"]]
