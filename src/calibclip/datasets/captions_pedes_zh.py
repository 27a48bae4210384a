"""Chinese captions for a ``Person``: the same attributes as ``captions_pedes``, in Chinese wording.

Detailed captions split the small details between an image's two captions as the
English captioner does (some in one, some in the other, some in both); every
caption names the dominant garment and its colour. Salient-only (web-style)
captions name the subject and the dominant garment only: "一个穿红色外套的女人".
"""
from __future__ import annotations

import numpy as np

from calibclip.datasets.draw_person import Person
from calibclip.datasets.tigr_phrases import COLOR_ZH

COLOUR = {**COLOR_ZH, "grey": "灰色", "pink": "粉色"}
HAIR_COLOUR = {"black": "黑色", "brown": "棕色", "blonde": "金色", "grey": "灰色"}
_SUBJECT = {"man": ("一个男人", "这名男子", "一位年轻男子", "这位男士", "该男性行人"),
            "woman": ("一个女人", "这名女子", "一位年轻女士", "这位女士", "该女性行人")}
_NEUTRAL = ("这个人", "该行人", "一位行人")
_PRONOUN = {"man": "他", "woman": "她"}
_NOUN = {"man": ("男人", "男子", "男士"), "woman": ("女人", "女子", "女士")}
_GARMENT = {"coat": ("外套", "夹克", "长外套", "大衣"), "dress": ("连衣裙", "长裙"),
            "top": ("T恤", "衬衫", "上衣", "毛衣")}
_LOWER = {"trousers": ("裤子", "长裤", "牛仔裤"), "shorts": ("短裤",), "skirt": ("裙子", "短裙")}
_BAG = {"backpack": ("背着", "背包"), "handbag": ("拿着", "手提包"), "shoulder bag": ("挎着", "单肩包")}
_HAT = {"cap": ("棒球帽", "鸭舌帽"), "beanie": ("毛线帽", "针织帽")}
_SHOES = ("鞋子", "运动鞋", "靴子")
_WEAR = ("穿着", "身穿", "穿")


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _garment(person: Person, rng: np.random.Generator) -> str:
    """"红色外套", "带白色条纹的红色上衣", "红白条纹上衣"."""
    noun, colour = _pick(rng, _GARMENT[person.garment]), COLOUR[person.garment_colour]
    if not person.stripes:
        return f"{colour}{noun}"
    if rng.random() < 0.5:
        return f"带{COLOUR[person.stripes]}条纹的{colour}{noun}"
    return f"{colour[0]}{COLOUR[person.stripes][0]}条纹{noun}"


def salient_caption_zh(person: Person, rng: np.random.Generator) -> str:
    """Subject and dominant garment only: "一个穿红色外套的女人", "穿蓝色衬衫的男子"."""
    noun, colour = _pick(rng, _GARMENT[person.garment]), COLOUR[person.garment_colour]
    who = _pick(rng, _NOUN[person.gender])
    return f"{_pick(rng, ('一个', '一位', ''))}穿{colour}{noun}的{who}"


def _details(person: Person, rng: np.random.Generator) -> list[str]:
    """One verb phrase per small detail of ``person``."""
    p = person
    out = [f"留着{HAIR_COLOUR[p.hair_colour]}{'长发' if p.hair_length == 'long' else '短发'}",
           f"{_pick(rng, _WEAR)}{COLOUR[p.shoes_colour]}{_pick(rng, _SHOES)}"]
    if p.lower:
        out.append(f"{_pick(rng, _WEAR)}{COLOUR[p.lower_colour]}{_pick(rng, _LOWER[p.lower])}")
    if p.bag != "none":
        verb, noun = _BAG[p.bag]
        out.append(f"{verb}{COLOUR[p.bag_colour]}{noun}")
    if p.hat != "none":
        out.append(f"戴着{COLOUR[p.hat_colour]}{_pick(rng, _HAT[p.hat])}")
    if p.glasses:
        out.append(_pick(rng, ("戴着眼镜", "戴着一副眼镜")))
    if p.umbrella:
        out.append(f"打着{COLOUR[p.umbrella]}雨伞")
    return out


def caption_pair_zh(person: Person, rng: np.random.Generator) -> tuple[str, str]:
    """Two Chinese captions of one photo that together mention every detail of ``person``."""
    details = _details(person, rng)
    where = rng.choice([0, 1, 2], size=len(details), p=[0.375, 0.375, 0.25])
    out = []
    for k in (0, 1):
        mine = [d for d, w in zip(details, where) if w in (k, 2)]
        out.append(_caption(person, [mine[i] for i in rng.permutation(len(mine))], rng))
    return out[0], out[1]


def _caption(person: Person, details: list[str], rng: np.random.Generator) -> str:
    """The garment first, then the details, in one of three sentence shapes."""
    subject = _pick(rng, _NEUTRAL) if rng.random() < 0.1 else _pick(rng, _SUBJECT[person.gender])
    pronoun, garment, style = _PRONOUN[person.gender], _garment(person, rng), int(rng.integers(3))
    wear = f"{_pick(rng, _WEAR)}{garment}"
    if style == 0:  # "一位穿着红色外套的女士，背着黑色背包，穿着白色鞋子。"
        who = subject[:2] if subject[:2] in ("一个", "一位") else "一位"
        return "，".join([f"{who}{wear}的{_pick(rng, _NOUN[person.gender])}", *details]) + "。"
    if style == 1:  # "这名女子穿着红色外套，背着黑色背包。她戴着眼镜。"
        head, rest = details[:1], details[1:]
        tail = [f"{pronoun}{'，'.join(rest[i:i + 2])}。" for i in range(0, len(rest), 2)]
        return "".join([f"{subject}{'，'.join([wear, *head])}。", *tail])
    # "这位女士留着黑色长发，戴着红色帽子。她穿着红色外套。"
    first, later = details[: len(details) // 2], details[len(details) // 2:]
    opening = f"{subject}{'，'.join(first)}。" if first else ""
    return opening + f"{pronoun if first else subject}{'，'.join([wear, *later])}。"
