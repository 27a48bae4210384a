"""Render a scene graph (``scene_graph``) into a small RGB picture with PIL primitives.

Rendering is a pure function of the scene: small colour/size jitter comes from the
scene's own ``seed``, so the same scene always gives the same pixels (and JPEG bytes).
"""
from __future__ import annotations

import io
import random
from typing import Any

from PIL import Image, ImageDraw

from calibclip.datasets import drawing_style
from calibclip.datasets.scene_graph import Scene

SIZE = 224
GROUND_Y = 150
FEET_Y = 205
PALETTE = {"red": (220, 30, 30), "green": (30, 160, 50), "blue": (30, 70, 210), "yellow": (240, 210, 30),
           "white": (245, 245, 245), "black": (25, 25, 25), "purple": (140, 50, 170), "orange": (245, 130, 20),
           "brown": (130, 80, 40), "golden": (215, 165, 60)}
# sky and ground colours per place (day); night darkens the ground and swaps the sky
PLACE_COLORS = {"park": ((135, 195, 235), (95, 175, 75)), "street": ((160, 190, 215), (115, 115, 120)),
                "beach": ((120, 190, 240), (235, 215, 160)), "city_hall": ((150, 200, 235), (205, 200, 185)),
                "snow": ((205, 212, 225), (246, 246, 250))}
SHADES = {family: drawing_style.shade_table(PALETTE, family, salt=2) for family in drawing_style.FAMILY}
SKIN = (225, 185, 150)
PANTS = (55, 55, 85)


def _jitter(color: tuple[int, int, int], rng: random.Random, amount: int = 10) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in color)


def _background(draw: ImageDraw.ImageDraw, scene: Scene, rng: random.Random, style: dict | None = None) -> None:
    sky, ground = PLACE_COLORS[scene["place"]]
    night = scene["time"] == "night"
    if night:
        sky, ground = (18, 22, 58), tuple(int(c * 0.55) for c in ground)
    sky, ground = _jitter(sky, rng), _jitter(ground, rng)
    draw.rectangle([0, 0, SIZE, GROUND_Y], fill=sky)
    draw.rectangle([0, GROUND_Y, SIZE, SIZE], fill=ground)
    if style is not None:
        _textures(draw, style, sky, ground, random.Random(scene["seed"] + 1))
    if night:
        draw.ellipse([170, 14, 194, 38], fill=(245, 240, 200))
        for _ in range(12):
            x, y = rng.randint(0, SIZE), rng.randint(0, GROUND_Y - 60)
            draw.point([(x, y), (x + 1, y)], fill=(250, 250, 230))
    _SCENERY[scene["place"]](draw, rng, night)


def _textures(draw: ImageDraw.ImageDraw, style: dict, sky: tuple[int, int, int], ground: tuple[int, int, int],
              rng: random.Random) -> None:
    """A styled scene's sky (flat, gradient, bands) and ground (flat, speckle, stripes)."""
    tone = lambda rgb, f: tuple(min(255, int(c * f)) for c in rgb)  # noqa: E731
    if style["sky"] == "gradient":
        for y in range(0, GROUND_Y, 6):
            draw.rectangle([0, y, SIZE, y + 6], fill=tone(sky, 0.8 + 0.3 * y / GROUND_Y))
    elif style["sky"] == "bands":
        for y in range(0, GROUND_Y, 30):
            draw.rectangle([0, y, SIZE, y + 14], fill=tone(sky, 0.85))
    if style["ground"] == "speckle":
        for _ in range(120):
            x, y = rng.randint(0, SIZE), rng.randint(GROUND_Y, SIZE)
            draw.point([(x, y), (x + 1, y)], fill=tone(ground, rng.choice((0.85, 1.12))))
    elif style["ground"] == "stripes":
        for y in range(GROUND_Y + 6, SIZE, 12):
            draw.rectangle([0, y, SIZE, y + 4], fill=tone(ground, 0.82))


def _park(draw: ImageDraw.ImageDraw, rng: random.Random, night: bool) -> None:
    for x in (rng.randint(10, 60), rng.randint(160, 210)):
        draw.rectangle([x - 4, GROUND_Y - 40, x + 4, GROUND_Y + 2], fill=(100, 65, 35))
        draw.ellipse([x - 22, GROUND_Y - 80, x + 22, GROUND_Y - 34], fill=(40, 110, 40) if not night else (20, 55, 25))


def _street(draw: ImageDraw.ImageDraw, rng: random.Random, night: bool) -> None:
    x = 0
    while x < SIZE:
        w, h = rng.randint(30, 55), rng.randint(50, 100)
        draw.rectangle([x, GROUND_Y - h, x + w - 3, GROUND_Y], fill=_jitter((175, 160, 140), rng, 25))
        for wy in range(GROUND_Y - h + 8, GROUND_Y - 10, 16):
            for wx in range(x + 5, x + w - 10, 12):
                draw.rectangle([wx, wy, wx + 5, wy + 7], fill=(250, 230, 120) if night else (90, 120, 150))
        x += w
    draw.rectangle([0, GROUND_Y, SIZE, GROUND_Y + 8], fill=(170, 170, 165))


def _beach(draw: ImageDraw.ImageDraw, rng: random.Random, night: bool) -> None:
    draw.rectangle([0, GROUND_Y - 22, SIZE, GROUND_Y], fill=(30, 90, 170) if not night else (15, 35, 80))
    draw.line([(0, GROUND_Y), (SIZE, GROUND_Y)], fill=(250, 250, 250), width=2)


def _city_hall(draw: ImageDraw.ImageDraw, rng: random.Random, night: bool) -> None:
    """A wide stone building with columns, a pediment and a dome: the distinctive landmark."""
    stone = (225, 220, 205) if not night else (120, 118, 110)
    left, right, top = 34, 190, 78
    draw.ellipse([92, 22, 132, 62], fill=(110, 150, 140))
    draw.rectangle([100, 42, 124, 66], fill=stone)
    draw.polygon([(left - 6, top), (right + 6, top), (112, 54)], fill=stone, outline=(150, 145, 135))
    draw.rectangle([left, top, right, GROUND_Y], fill=stone)
    for cx in range(left + 8, right - 4, 18):
        draw.rectangle([cx, top + 8, cx + 6, GROUND_Y - 6], fill=(245, 242, 232) if not night else (150, 148, 140))
    draw.rectangle([left - 8, GROUND_Y - 6, right + 8, GROUND_Y], fill=(185, 180, 170))


def _snow(draw: ImageDraw.ImageDraw, rng: random.Random, night: bool) -> None:
    for x in (rng.randint(8, 50), rng.randint(170, 215)):
        draw.polygon([(x - 16, GROUND_Y), (x + 16, GROUND_Y), (x, GROUND_Y - 60)], fill=(25, 80, 45))
    for _ in range(40):
        x, y = rng.randint(0, SIZE), rng.randint(0, SIZE)
        draw.point([(x, y), (x + 1, y)], fill=(255, 255, 255))


_SCENERY = {"park": _park, "street": _street, "beach": _beach, "city_hall": _city_hall, "snow": _snow}


def _person(draw: ImageDraw.ImageDraw, p: dict[str, Any], rng: random.Random, palette: dict = PALETTE) -> None:
    """Head, hair, garment, arms (raised when dancing), legs (bent on a bench when sitting), hat, shoes, umbrella."""
    cx = int(p["x"] * SIZE)
    sitting, dancing = p["action"] == "sitting", p["action"] == "dancing"
    feet = FEET_Y
    hip = feet - (22 if sitting else 42)
    shoulder = hip - 36
    head_y = shoulder - 11
    cloth = _jitter(palette[p["color"]], rng, 8)
    if sitting:
        draw.rectangle([cx - 26, hip - 2, cx + 26, hip + 5], fill=(120, 80, 45))
        draw.rectangle([cx - 22, hip + 5, cx - 18, feet], fill=(90, 60, 35))
        draw.rectangle([cx + 18, hip + 5, cx + 22, feet], fill=(90, 60, 35))
    hair = (60, 40, 25)
    if p["gender"] == "woman":
        draw.rectangle([cx - 10, head_y - 6, cx + 10, shoulder + 8], fill=hair)
    legs = PANTS if p["garment"] != "dress" else SKIN
    knee_x = 14 if sitting else 0
    for side in (-1, 1):
        x0 = cx + side * 6
        draw.line([(x0, hip), (x0 + knee_x, hip + (0 if sitting else 20)), (x0 + knee_x, feet - 3)], fill=legs, width=6)
        foot = [x0 + knee_x - 5, feet - 5, x0 + knee_x + 6, feet + 1]
        draw.ellipse(foot, fill=(20, 20, 20) if p["shoes"] else SKIN)
    _garment(draw, cx, shoulder, hip, p["garment"], cloth)
    for side in (-1, 1):
        hand = (cx + side * 22, shoulder - 26) if dancing else (cx + side * 17, hip - 2)
        draw.line([(cx + side * 11, shoulder + 3), hand], fill=cloth, width=5)
        draw.ellipse([hand[0] - 3, hand[1] - 3, hand[0] + 3, hand[1] + 3], fill=SKIN)
    draw.ellipse([cx - 9, head_y - 9, cx + 9, head_y + 9], fill=SKIN)
    draw.chord([cx - 9, head_y - 10, cx + 9, head_y + 4], 180, 360, fill=hair)
    if p["hat"]:
        hat = _jitter(palette[p["hat"]], rng, 8)
        draw.rectangle([cx - 13, head_y - 8, cx + 13, head_y - 5], fill=hat)
        draw.rectangle([cx - 8, head_y - 17, cx + 8, head_y - 6], fill=hat)
    if p["umbrella"]:
        top = head_y - 34
        draw.line([(cx + 17, top + 14), (cx + 17, hip - 2)], fill=(40, 40, 40), width=2)
        draw.pieslice([cx - 8, top, cx + 42, top + 30], 180, 360, fill=_jitter(palette[p["umbrella"]], rng, 8))


def _garment(draw: ImageDraw.ImageDraw, cx: int, shoulder: int, hip: int, garment: str,
             cloth: tuple[int, int, int]) -> None:
    if garment == "dress":
        draw.polygon([(cx - 10, shoulder), (cx + 10, shoulder), (cx + 19, hip + 16), (cx - 19, hip + 16)], fill=cloth)
    elif garment == "coat":
        draw.rectangle([cx - 13, shoulder, cx + 13, hip + 12], fill=cloth)
        draw.line([(cx, shoulder + 4), (cx, hip + 12)], fill=(40, 40, 40), width=1)
    else:
        draw.rectangle([cx - 11, shoulder, cx + 11, hip + 2], fill=cloth)


def _dog(draw: ImageDraw.ImageDraw, cx: int, color: tuple[int, int, int]) -> None:
    base = FEET_Y + 4
    for dx in (-12, -6, 6, 12):
        draw.line([(cx + dx, base - 12), (cx + dx, base)], fill=color, width=3)
    draw.ellipse([cx - 17, base - 24, cx + 15, base - 9], fill=color)
    draw.ellipse([cx + 10, base - 33, cx + 24, base - 19], fill=color)
    draw.line([(cx - 16, base - 20), (cx - 24, base - 30)], fill=color, width=3)
    draw.ellipse([cx + 18, base - 29, cx + 21, base - 26], fill=(10, 10, 10))


def _car(draw: ImageDraw.ImageDraw, cx: int, color: tuple[int, int, int]) -> None:
    base = GROUND_Y + 32
    draw.polygon([(cx - 20, base - 22), (cx + 16, base - 22), (cx + 24, base - 36), (cx - 14, base - 36)], fill=color)
    draw.rectangle([cx - 36, base - 22, cx + 36, base - 6], fill=color)
    draw.rectangle([cx - 10, base - 33, cx + 14, base - 23], fill=(170, 210, 235))
    for wx in (cx - 22, cx + 22):
        draw.ellipse([wx - 8, base - 14, wx + 8, base + 2], fill=(20, 20, 20))


def _bicycle(draw: ImageDraw.ImageDraw, cx: int, color: tuple[int, int, int]) -> None:
    base = FEET_Y - 2
    for wx in (cx - 16, cx + 16):
        draw.ellipse([wx - 11, base - 22, wx + 11, base], outline=(30, 30, 30), width=3)
    frame = [(cx - 16, base - 11), (cx - 2, base - 26), (cx + 12, base - 26), (cx + 16, base - 11), (cx, base - 11),
             (cx - 2, base - 26)]
    draw.line(frame, fill=color, width=3)
    draw.line([(cx + 12, base - 26), (cx + 10, base - 32)], fill=(30, 30, 30), width=2)


def _ball(draw: ImageDraw.ImageDraw, cx: int, color: tuple[int, int, int]) -> None:
    draw.ellipse([cx - 9, FEET_Y - 14, cx + 9, FEET_Y + 4], fill=color)


_OBJECTS = {"dog": _dog, "car": _car, "bicycle": _bicycle, "ball": _ball}
_BEHIND_PEOPLE = ("car", "bicycle")


def render(scene: Scene, style: str = "classic") -> Image.Image:
    """Draw ``scene`` (background, then cars and bicycles, people, then dogs and balls in front).

    ``style`` is a drawing style family (``drawing_style``): the scene's sky, ground, line
    filter and colour shades follow from its seed; "classic" is the original drawing.
    """
    rng = random.Random(scene["seed"])
    look = None if style == "classic" else drawing_style.scene_style(scene["seed"], style, tuple(PALETTE))
    palette = PALETTE if look is None else {name: SHADES[style][name][k] for name, k in look["shades"].items()}
    image = Image.new("RGB", (SIZE, SIZE))
    draw = ImageDraw.Draw(image)
    _background(draw, scene, rng, look)
    for behind in (True, False):
        for obj in scene["objects"]:
            if (obj["kind"] in _BEHIND_PEOPLE) == behind:
                _OBJECTS[obj["kind"]](draw, int(obj["x"] * SIZE), _jitter(palette[obj["color"]], rng, 8))
        if behind:
            for person in sorted(scene["people"], key=lambda p: p["x"]):
                _person(draw, person, rng, palette)
    return image if look is None else drawing_style.scene_filter(image, look["filter"])


def render_jpeg(scene: Scene, quality: int = 90, style: str = "classic") -> bytes:
    """``render`` encoded as JPEG bytes (deterministic for a given Pillow build)."""
    buffer = io.BytesIO()
    render(scene, style).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
