"""English and Chinese wording of scene-graph facts: queries, AND/NOT clauses and captions.

Clauses keep their subject ("a woman wearing a green dress", "穿绿色连衣裙的女人"), as in
TIGR-100k; negations use "no"/"without" and 不/没有/无. Clauses never contain the list
separators (, ，、) that the TIGR line uses between clauses.
"""
from __future__ import annotations

from calibclip.datasets.scene_graph import GENDERS, Scene, parse_fact
from calibclip.types import Clauses

PLACE_EN = {"park": "in the park", "street": "on the street", "beach": "on the beach",
            "city_hall": "in front of City Hall", "snow": "in the snow"}
PLACE_NAME_EN = {"park": "park", "street": "street", "beach": "beach", "city_hall": "City Hall", "snow": "snowfield"}
PRONOUN_EN = {"woman": "her", "man": "his"}
SIDE_EN = {"left_of": "left", "right_of": "right"}
NOT_EN = {"shoes": ("shoes", "with no shoes"), "hat": ("a hat", "without a hat"),
          "umbrella": ("an umbrella", "without an umbrella"), "dog": ("a dog", "without a dog"),
          "car": ("a car", "with no car around"), "bicycle": ("a bicycle", "with no bicycle"),
          "ball": ("a ball", "without a ball")}

COLOR_ZH = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色", "white": "白色", "black": "黑色",
            "purple": "紫色", "orange": "橙色", "brown": "棕色", "golden": "金色"}
GARMENT_ZH = {"dress": "连衣裙", "shirt": "衬衫", "coat": "外套"}
GENDER_ZH = {"woman": "女人", "man": "男人"}
PRONOUN_ZH = {"woman": "她", "man": "他"}
PLACE_ZH = {"park": "公园里", "street": "街上", "beach": "海滩上", "city_hall": "市政厅前", "snow": "雪地里"}
PLACE_NAME_ZH = {"park": "公园", "street": "街道", "beach": "海滩", "city_hall": "市政厅", "snow": "雪地"}
ACTION_ZH = {"standing": "站着", "dancing": "跳舞", "sitting": "坐着"}
OBJECT_ZH = {"dog": ("一只", "狗"), "car": ("一辆", "汽车"), "bicycle": ("一辆", "自行车"), "ball": ("一个", "球")}
SIDE_ZH = {"left_of": "左边", "right_of": "右边"}
NOT_ZH = {"shoes": ("鞋子", "没有穿鞋"), "hat": ("帽子", "不戴帽子"), "umbrella": ("雨伞", "没有打伞"),
          "dog": ("狗", "没有狗"), "car": ("汽车", "附近无汽车"), "bicycle": ("自行车", "没有自行车"),
          "ball": ("球", "没有球")}


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _not_key(fact: str) -> str:
    head, attr, _ = parse_fact(fact)
    return attr if head in GENDERS else head


def and_clause(fact: str, lang: str = "en") -> str:
    """The clause text for a fact that must hold ("a woman dancing" / "跳舞的女人")."""
    head, attr, value = parse_fact(fact)
    if lang == "zh":
        return _and_clause_zh(head, attr, value)
    if attr == "wear":
        return f"a {head} wearing {_a(value)}"
    if attr == "hat":
        return f"a {head} wearing {_a(value + ' hat' if value else 'hat')}"
    if attr == "umbrella":
        return f"a {head} holding an umbrella"
    if attr == "action":
        return f"a {head} {value}"
    if attr == "place":
        return f"a {head} {PLACE_EN[value]}"
    if attr == "time":
        return f"a {head} at {value}"
    if attr in SIDE_EN:
        return f"a {head} on the {SIDE_EN[attr]} of the {value}"
    return _a(f"{value} {head}" if value else head)


def _and_clause_zh(head: str, attr: str, value: str) -> str:
    if head in GENDERS:
        who = GENDER_ZH[head]
        color, _, garment = value.partition(" ")
        text = {"wear": lambda: f"穿{COLOR_ZH.get(color, '')}{GARMENT_ZH.get(garment, '')}",
                "hat": lambda: f"戴{COLOR_ZH.get(value, '')}帽子", "umbrella": lambda: "拿着雨伞",
                "action": lambda: ACTION_ZH.get(value, ""), "place": lambda: f"在{PLACE_ZH.get(value, '')}",
                "time": lambda: "夜晚" if value == "night" else "白天"}[attr]()
        return f"{text}的{who}"
    name = OBJECT_ZH[head][1]
    if attr in SIDE_ZH:
        return f"{GENDER_ZH[value]}{SIDE_ZH[attr]}的{name}"
    return f"{COLOR_ZH[value]}的{name}" if value else name


def not_clause(fact: str, lang: str = "en") -> str:
    """The NOT clause for a fact that must not hold ("shoes" / "鞋子")."""
    return (NOT_ZH if lang == "zh" else NOT_EN)[_not_key(fact)][0]


def negation(fact: str, lang: str = "en") -> str:
    """How the raw query says a NOT clause ("with no shoes" / "没有穿鞋")."""
    return (NOT_ZH if lang == "zh" else NOT_EN)[_not_key(fact)][1]


def _objects(facts: list[str], gender: str) -> list[tuple[str, str, str]]:
    """(kind, colour or "", side or "") for each object mentioned in ``facts``, in first-mention order."""
    found: dict[str, list[str]] = {}
    for fact in facts:
        head, attr, value = parse_fact(fact)
        if head in GENDERS or head == "umbrella":
            continue
        entry = found.setdefault(head, ["", ""])
        if attr in SIDE_EN and value == gender:
            entry[1] = attr
        elif not attr:
            entry[0] = value or entry[0]
    return [(kind, color, side) for kind, (color, side) in found.items()]


def _person_attrs(facts: list[str], gender: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for fact in facts:
        head, attr, value = parse_fact(fact)
        if head == gender and (value or attr not in attrs):
            attrs[attr] = value
    return attrs


def describe(gender: str, facts: list[str], lang: str = "en", barefoot: bool = False) -> str:
    """A natural phrase for a person with the given facts and the objects around them."""
    attrs, objects = _person_attrs(facts, gender), _objects(facts, gender)
    if lang == "zh":
        return _describe_zh(gender, attrs, objects, barefoot)
    parts = [f"A {gender}" + (f" in {_a(attrs['wear'])}" if "wear" in attrs else "")]
    if "hat" in attrs:
        parts.append(f"wearing {_a(attrs['hat'] + ' hat' if attrs['hat'] else 'hat')}")
    optional = (("umbrella" in attrs, "holding an umbrella"), (barefoot, "barefoot"),
                ("action" in attrs, attrs.get("action")), ("place" in attrs, PLACE_EN.get(attrs.get("place", ""))),
                (attrs.get("time") == "night", "at night"))
    parts += [text for present, text in optional if present]
    things = [_a(f"{color} {kind}" if color else kind) + (f" on {PRONOUN_EN[gender]} {SIDE_EN[side]}" if side else "")
              for kind, color, side in objects]
    listed = ", ".join(things[:-1]) + " and " + things[-1] if len(things) > 1 else "".join(things)
    return " ".join(parts) + (f", with {listed}" if things else "")


def _describe_zh(gender: str, attrs: dict[str, str], objects: list[tuple[str, str, str]], barefoot: bool) -> str:
    mods = []
    if "wear" in attrs:
        color, garment = attrs["wear"].split(" ")
        mods.append(f"穿{COLOR_ZH[color]}{GARMENT_ZH[garment]}")
    if "hat" in attrs:
        mods.append(f"戴{COLOR_ZH.get(attrs['hat'], '')}帽子")
    mods += ["拿着雨伞"] * ("umbrella" in attrs) + ["光着脚"] * barefoot
    text = "夜晚，" if attrs.get("time") == "night" else ""
    text += "一个" + "、".join(mods) + ("的" if mods else "") + GENDER_ZH[gender]
    text += f"在{PLACE_ZH[attrs['place']]}" if "place" in attrs else ""
    text += ACTION_ZH[attrs["action"]] if "action" in attrs else ""
    for kind, color, side in objects:
        where = f"{PRONOUN_ZH[gender]}{SIDE_ZH[side]}" if side else "旁边"
        measure, name = OBJECT_ZH[kind]
        text += f"，{where}有{measure}{COLOR_ZH.get(color, '')}{name}"
    return text


def query_clauses(subject: str, and_facts: list[str], not_facts: list[str], lang: str = "en") -> Clauses:
    """The full decomposition of a synthetic query, ready for ``format_tigr_text``."""
    optimized = describe(subject, and_facts, lang)
    negations = [negation(f, lang) for f in not_facts]
    if lang == "zh":
        raw = "，".join([optimized, *negations])
    else:
        raw = (", " if "," in optimized else " ").join([optimized, " and ".join(negations)]) if negations else optimized
    attrs = _person_attrs(and_facts, subject)
    names = PLACE_NAME_ZH if lang == "zh" else PLACE_NAME_EN
    time = ("夜晚" if lang == "zh" else "night") if attrs.get("time") == "night" else "none"
    return Clauses(raw=raw, optimized=optimized, and_clauses=tuple(and_clause(f, lang) for f in and_facts),
                   not_clauses=tuple(not_clause(f, lang) for f in not_facts), time=time,
                   place=names[attrs["place"]] if "place" in attrs else "none", person="none", intention="complex")


def caption(scene: Scene, lang: str = "en") -> str:
    """A plain description of everything in a scene (the training text for that image).

    Objects are described relative to the first person; place and time once.
    """
    texts = []
    for i, p in enumerate(scene["people"]):
        g = p["gender"]
        facts = [f"{g}.wear={p['color']} {p['garment']}", f"{g}.action={p['action']}"]
        facts += [f"{g}.hat={p['hat']}"] * bool(p["hat"]) + [f"{g}.umbrella"] * bool(p["umbrella"])
        if i == 0:
            facts += [f"{g}.place={scene['place']}", f"{g}.time={scene['time']}"]
            for o in scene["objects"]:
                facts += [f"{o['kind']}={o['color']}", f"{o['kind']}.{'left_of' if o['x'] < p['x'] else 'right_of'}={g}"]
        texts.append(describe(g, facts, lang, barefoot=not p["shoes"]))
    return ("；" if lang == "zh" else "; ").join(texts)


_PROMINENCE = ("car", "bicycle", "dog", "ball")  # the biggest object is the salient one


def salient_caption(scene: Scene, rng, lang: str = "en") -> str:
    """The scene's main subject only, as web alt-text says it ("a woman in a green dress",
    "a red car on the street" / "穿绿色连衣裙的女人", "街上的红色汽车"); ``rng`` is a ``random.Random``
    or a numpy ``Generator`` (only ``random()`` is used)."""
    objects = sorted(scene["objects"], key=lambda o: _PROMINENCE.index(o["kind"]))
    place = scene["place"]
    if objects and rng.random() < 1 / 3:
        obj = objects[0]
        if lang == "zh":
            return f"{PLACE_ZH[place]}的{COLOR_ZH[obj['color']]}{OBJECT_ZH[obj['kind']][1]}"
        return f"{_a(obj['color'] + ' ' + obj['kind'])} {PLACE_EN[place]}"
    p = scene["people"][0]
    where = rng.random() < 0.3
    if lang == "zh":
        wear = f"穿{COLOR_ZH[p['color']]}{GARMENT_ZH[p['garment']]}"
        return f"{PLACE_ZH[place] if where else ''}{wear}的{GENDER_ZH[p['gender']]}"
    return f"a {p['gender']} in {_a(p['color'] + ' ' + p['garment'])}" + (f" {PLACE_EN[place]}" if where else "")
