"""Scene graphs for the synthetic TIGR benchmark, the facts they make true, and edits that set or clear a fact.

A scene is a JSON-able dict::

    {"place": "city_hall", "time": "day", "seed": 123,
     "people": [{"gender": "woman", "garment": "dress", "color": "green", "action": "dancing",
                 "hat": None, "shoes": False, "umbrella": None, "x": 0.5}],
     "objects": [{"kind": "dog", "color": "brown", "x": 0.2}]}

At most one person per gender, so "a woman ..." clauses always mean the same woman
(the TIGR clauses keep their subject). Facts are strings such as
``woman.wear=green dress``, ``woman.place=city_hall``, ``dog.left_of=woman``, ``car=red``;
a query clause is satisfied exactly when its fact is in ``scene_facts(scene)``.
"""
from __future__ import annotations

import random
from typing import Any

Scene = dict[str, Any]

GENDERS = ("woman", "man")
GARMENTS = {"woman": ("dress", "shirt", "coat"), "man": ("shirt", "coat")}
COLORS = ("red", "green", "blue", "yellow", "white", "black", "purple", "orange")
DOG_COLORS = ("brown", "black", "white", "golden")
PLACES = ("park", "street", "beach", "city_hall", "snow")
TIMES = ("day", "night")
ACTIONS = ("standing", "dancing", "sitting")
OBJECTS = ("dog", "car", "bicycle", "ball")
SIDES = ("left_of", "right_of")


def parse_fact(fact: str) -> tuple[str, str, str]:
    """``"woman.hat=red"`` → ("woman", "hat", "red"); ``"car=red"`` → ("car", "", "red"); ``"dog"`` → ("dog", "", "")."""
    head, _, value = fact.partition("=")
    head, _, attr = head.partition(".")
    return head, attr, value


def scene_facts(scene: Scene) -> set[str]:
    """Every fact the scene makes true (the exact ground truth for clause satisfaction)."""
    facts: set[str] = set()
    for p in scene["people"]:
        g = p["gender"]
        facts |= {f"{g}.wear={p['color']} {p['garment']}", f"{g}.place={scene['place']}",
                  f"{g}.time={scene['time']}", f"{g}.action={p['action']}"}
        if p["hat"]:
            facts |= {f"{g}.hat", f"{g}.hat={p['hat']}"}
        if p["shoes"]:
            facts.add(f"{g}.shoes")
        if p["umbrella"]:
            facts |= {f"{g}.umbrella", "umbrella"}
        for o in scene["objects"]:
            facts.add(f"{o['kind']}.{'left_of' if o['x'] < p['x'] else 'right_of'}={g}")
    for o in scene["objects"]:
        facts |= {o["kind"], f"{o['kind']}={o['color']}"}
    return facts


def _free_x(scene: Scene, rng: random.Random) -> float:
    """The candidate position farthest from everything already placed (keeps entities visible)."""
    taken = [e["x"] for e in (*scene["people"], *scene["objects"])]
    candidates = [rng.uniform(0.1, 0.9) for _ in range(12)]
    return round(max(candidates, key=lambda x: min((abs(x - t) for t in taken), default=1.0)), 3)


def _other(rng: random.Random, options: tuple[str, ...], current: str | None) -> str:
    return rng.choice([o for o in options if o != current])


def new_person(scene: Scene, gender: str, rng: random.Random) -> dict[str, Any]:
    """Add a randomly dressed person of ``gender`` at a free position."""
    person = {"gender": gender, "garment": rng.choice(GARMENTS[gender]), "color": rng.choice(COLORS),
              "action": rng.choices(ACTIONS, weights=(2, 1, 1))[0],
              "hat": rng.choice(COLORS) if rng.random() < 0.35 else None, "shoes": rng.random() < 0.75,
              "umbrella": rng.choice(COLORS) if rng.random() < 0.15 else None, "x": _free_x(scene, rng)}
    scene["people"].append(person)
    return person


def new_object(scene: Scene, kind: str, rng: random.Random) -> dict[str, Any]:
    """Add an object of ``kind`` with a random colour at a free position."""
    obj = {"kind": kind, "color": rng.choice(DOG_COLORS if kind == "dog" else COLORS), "x": _free_x(scene, rng)}
    scene["objects"].append(obj)
    return obj


def random_scene(rng: random.Random) -> Scene:
    """A random scene: one or two people (distinct genders) and 0–3 objects."""
    scene: Scene = {"place": rng.choice(PLACES), "time": "night" if rng.random() < 0.25 else "day",
                    "seed": rng.getrandbits(32), "people": [], "objects": []}
    genders = list(GENDERS) if rng.random() < 0.3 else [rng.choice(GENDERS)]
    for gender in genders:
        new_person(scene, gender, rng)
    for kind in rng.sample(OBJECTS, k=rng.choices((0, 1, 2, 3), weights=(3, 4, 3, 1))[0]):
        new_object(scene, kind, rng)
    return scene


def _find(items: list[dict[str, Any]], key: str, value: str) -> dict[str, Any] | None:
    return next((item for item in items if item[key] == value), None)


def _person(scene: Scene, gender: str, rng: random.Random) -> dict[str, Any]:
    return _find(scene["people"], "gender", gender) or new_person(scene, gender, rng)


def _object(scene: Scene, kind: str, rng: random.Random) -> dict[str, Any]:
    return _find(scene["objects"], "kind", kind) or new_object(scene, kind, rng)


def _set_person_fact(scene: Scene, p: dict[str, Any], attr: str, value: str, rng: random.Random) -> None:
    if attr == "wear":
        p["color"], p["garment"] = value.split(" ")
    elif attr == "place":
        scene["place"] = value
    elif attr == "time":
        scene["time"] = value
    elif attr == "action":
        p["action"] = value
    elif attr == "hat":
        p["hat"] = value or p["hat"] or rng.choice(COLORS)
    elif attr == "shoes":
        p["shoes"] = True
    elif attr == "umbrella":
        p["umbrella"] = p["umbrella"] or rng.choice(COLORS)


def _clear_person_fact(scene: Scene, p: dict[str, Any], attr: str, value: str, rng: random.Random) -> None:
    if attr == "wear":
        if rng.random() < 0.5 and len(GARMENTS[p["gender"]]) > 1:
            p["garment"] = _other(rng, GARMENTS[p["gender"]], value.split(" ")[1])
        else:
            p["color"] = _other(rng, COLORS, value.split(" ")[0])
    elif attr == "place":
        scene["place"] = _other(rng, PLACES, value)
    elif attr == "time":
        scene["time"] = _other(rng, TIMES, value)
    elif attr == "action":
        p["action"] = _other(rng, ACTIONS, value)
    elif attr == "hat":
        p["hat"] = None if not value or rng.random() < 0.5 else _other(rng, COLORS, value)
    elif attr in ("shoes", "umbrella"):
        p[attr] = False if attr == "shoes" else None


def set_fact(scene: Scene, fact: str, want: bool, rng: random.Random) -> None:
    """Edit ``scene`` so that ``fact`` holds (``want``) or does not; other facts change as little as possible."""
    head, attr, value = parse_fact(fact)
    if head in GENDERS:
        person = _person(scene, head, rng) if want else _find(scene["people"], "gender", head)
        if person is not None:
            (_set_person_fact if want else _clear_person_fact)(scene, person, attr, value, rng)
    elif head == "umbrella":
        holders = [p for p in scene["people"] if p["umbrella"]]
        if want and not holders:
            (scene["people"] or [new_person(scene, rng.choice(GENDERS), rng)])[0]["umbrella"] = rng.choice(COLORS)
        for p in holders if not want else []:
            p["umbrella"] = None
    elif attr in SIDES:
        _set_side(scene, head, attr, value, want, rng)
    elif want:
        obj = _object(scene, head, rng)
        obj["color"] = value or obj["color"]
    else:
        obj = _find(scene["objects"], "kind", head)
        if obj is not None and (not value or rng.random() < 0.5):
            scene["objects"].remove(obj)
        elif obj is not None:
            obj["color"] = _other(rng, COLORS, value)


def _set_side(scene: Scene, kind: str, side: str, gender: str, want: bool, rng: random.Random) -> None:
    """Place object ``kind`` on the wanted side of ``gender`` by swapping the two positions."""
    obj = _object(scene, kind, rng) if want else _find(scene["objects"], "kind", kind)
    person = _person(scene, gender, rng) if want else _find(scene["people"], "gender", gender)
    if obj is None or person is None:
        return
    wrong_side = (obj["x"] < person["x"]) != (side == "left_of")
    if wrong_side == want:  # wanted but on the wrong side, or unwanted and on that side
        obj["x"], person["x"] = person["x"], obj["x"]


def build_scene(rng: random.Random, require: set[str], forbid: set[str], tries: int = 100) -> Scene:
    """A random scene where every ``require`` fact holds and no ``forbid`` fact does."""
    for _ in range(tries):
        scene = random_scene(rng)
        for fact in sorted(require):
            set_fact(scene, fact, True, rng)
        for fact in sorted(forbid):
            set_fact(scene, fact, False, rng)
        facts = scene_facts(scene)
        if require <= facts and not facts & forbid:
            return scene
    raise ValueError(f"cannot build a scene with {sorted(require)} and without {sorted(forbid)}")
