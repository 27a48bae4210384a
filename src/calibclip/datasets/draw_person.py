"""A procedural pedestrian: the attributes that define a person and a PIL drawing of them.

The drawing is built to reproduce the problem CalibCLIP targets: one large
garment (coat, dress or top) in one of a few shared colours covers most of the
figure, while the details that tell identities apart (bag, shoes, hat, glasses,
hair, stripes, umbrella) cover a few percent of the pixels.
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

from calibclip.datasets import drawing_style
from calibclip.datasets.drawing_style import Style

WIDTH, HEIGHT = 128, 384
PALETTE = {
    "red": (200, 30, 35), "blue": (35, 70, 190), "green": (40, 150, 60), "yellow": (235, 205, 40),
    "black": (25, 25, 28), "white": (238, 238, 235), "grey": (130, 130, 135), "pink": (240, 140, 180),
    "purple": (120, 50, 150), "orange": (240, 130, 30), "brown": (120, 75, 40),
}
HAIR = {"black": (20, 18, 18), "brown": (95, 60, 30), "blonde": (225, 195, 110), "grey": (165, 165, 165)}
SKIN = ((240, 205, 175), (210, 165, 125), (160, 110, 75), (105, 70, 45))
BANDS = (80, 180)  # rows where the head, torso and legs bands meet (proportions are stretched per band)
SHADES = {family: drawing_style.shade_table(PALETTE, family) for family in drawing_style.FAMILY}
HAIR_SHADES = {family: drawing_style.shade_table(HAIR, family, salt=1) for family in drawing_style.FAMILY}


@dataclass(frozen=True)
class Person:
    """Everything that defines one identity; every field but ``skin`` is described in captions."""

    gender: str            # "man" | "woman"
    hair_colour: str       # key of HAIR
    hair_length: str       # "short" | "long"
    garment: str           # dominant garment: "coat" | "dress" | "top"
    garment_colour: str    # one of the few shared dominant colours
    stripes: str | None    # colour of stripes on a top or dress
    lower: str | None      # "trousers" | "shorts" | "skirt"; None under a dress
    lower_colour: str | None
    shoes_colour: str
    bag: str               # "none" | "backpack" | "handbag" | "shoulder bag"
    bag_colour: str | None
    hat: str               # "none" | "cap" | "beanie"
    hat_colour: str | None
    glasses: bool
    umbrella: str | None   # umbrella colour, or None
    skin: int = 0          # index into SKIN; not described (a nuisance variable)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class View:
    """How one photo of a person differs from another: pose, framing, background, light."""

    scale: float
    dx: int
    dy: int
    arm_swing: float       # pixels the hands move sideways
    leg_spread: int
    bag_side: int          # +1 right, -1 left
    background: str        # "plain" | "stripes" | "gradient" | "noise"
    background_rgb: tuple[int, int, int]
    brightness: float
    noise: float
    camera: int

    def to_dict(self) -> dict:
        return asdict(self)


def sample_view(rng: np.random.Generator) -> View:
    """Draw the nuisance parameters of one photo."""
    return View(scale=float(rng.uniform(0.82, 1.0)), dx=int(rng.integers(-8, 9)), dy=int(rng.integers(-6, 7)),
                arm_swing=float(rng.uniform(-7, 7)), leg_spread=int(rng.integers(0, 8)),
                bag_side=int(rng.choice([-1, 1])),
                background=str(rng.choice(["plain", "stripes", "gradient", "noise"])),
                background_rgb=tuple(int(v) for v in rng.integers(70, 200, size=3)),
                brightness=float(rng.uniform(0.8, 1.15)), noise=float(rng.uniform(2, 9)),
                camera=int(rng.integers(1, 16)))


def sample_style(rng: np.random.Generator, family: str) -> Style:
    """A drawing style of ``family`` ("train" | "heldout"; see ``drawing_style``) for one person photo."""
    return drawing_style.sample_style(rng, family, (*PALETTE, *(f"hair:{name}" for name in HAIR)))


def styled_view(view: View, style: Style, rng: np.random.Generator) -> View:
    """``view`` with the style family's pose ranges and background kind."""
    swing, spread = drawing_style.pose(rng, style.family)
    return replace(view, arm_swing=swing, leg_spread=spread, background=style.background)


def render_person(person: Person, view: View, rng: np.random.Generator, style: Style | None = None) -> Image.Image:
    """Draw ``person`` as seen in ``view`` on a 128×384 RGB canvas (``style``: None draws the classic figure)."""
    canvas = _background(view, rng)
    figure = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    _Figure(ImageDraw.Draw(figure), person, view, rng, *_tables(style)).draw()
    scale = view.scale
    if style is not None:
        figure = Image.fromarray(drawing_style.shade_ramp(np.asarray(figure), style.shading), "RGBA")
        figure = drawing_style.reshape(drawing_style.outline(figure, style.outline), style, BANDS)
        scale *= min(1.0, (HEIGHT - 8) / figure.height)  # a taller figure still fits the frame
    size = (round(figure.width * scale), round(figure.height * scale))
    figure = figure.resize(size, Image.BILINEAR)
    left = (WIDTH - size[0]) // 2 + view.dx
    top = HEIGHT - size[1] - 4 + view.dy
    canvas.paste(figure, (left, top), figure)
    return _light(canvas, view, rng)


def _tables(style: Style | None) -> tuple[dict, dict]:
    """The palette and hair colours a style draws with (the named colours themselves without one)."""
    if style is None:
        return PALETTE, HAIR
    shades = dict(style.shades)
    palette = {name: SHADES[style.family][name][shades[name]] for name in PALETTE}
    hair = {name: HAIR_SHADES[style.family][name][shades[f"hair:{name}"]] for name in HAIR}
    return palette, hair


def encode_jpeg(image: Image.Image, quality: int = 92) -> bytes:
    """JPEG bytes of ``image`` (deterministic for a given Pillow build)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _background(view: View, rng: np.random.Generator) -> Image.Image:
    base = np.empty((HEIGHT, WIDTH, 3), dtype=np.float32)
    base[:] = view.background_rgb
    if view.background == "stripes":
        period = int(rng.integers(10, 30))
        base[:, (np.arange(WIDTH) // period) % 2 == 1] *= 0.8
    elif view.background == "gradient":
        base *= np.linspace(0.65, 1.2, HEIGHT, dtype=np.float32)[:, None, None]
    elif view.background == "noise":
        base += rng.normal(0, 18, size=(HEIGHT // 8, WIDTH // 8, 1)).repeat(8, 0).repeat(8, 1)
    elif view.background == "horizon":  # a wall above a floor of another tone
        base[int(rng.integers(HEIGHT // 3, HEIGHT * 2 // 3)):] *= 0.7
    elif view.background == "checker":
        cell = int(rng.integers(12, 24))
        ys, xs = np.indices((HEIGHT, WIDTH)) // cell
        base[(ys + xs) % 2 == 1] *= 0.75
    elif view.background == "dots":
        period = int(rng.integers(14, 22))
        ys, xs = np.indices((HEIGHT, WIDTH)) % period
        base[(ys - period // 2) ** 2 + (xs - period // 2) ** 2 <= (period // 4) ** 2] *= 1.25
    base[int(HEIGHT * 0.9):] *= 0.75  # floor
    return Image.fromarray(base.clip(0, 255).astype(np.uint8))


def _light(image: Image.Image, view: View, rng: np.random.Generator) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32) * view.brightness
    pixels += rng.standard_normal((HEIGHT, WIDTH, 1), dtype=np.float32) * view.noise  # luminance noise
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


class _Figure:
    """Draws the body parts back to front; coordinates are on the unscaled 128×384 canvas."""

    def __init__(self, draw: ImageDraw.ImageDraw, person: Person, view: View, rng: np.random.Generator,
                 palette: dict = PALETTE, hair: dict = HAIR) -> None:
        self.d, self.p, self.v, self.rng = draw, person, view, rng
        self.palette, self.hair = palette, hair

    def colour(self, name: str, table: dict | None = None) -> tuple[int, int, int]:
        """The named colour (the style's shade of it) with a little per-photo jitter (dye and white balance vary)."""
        jitter = self.rng.integers(-12, 13, size=3)
        return tuple(min(255, max(0, int(c + j))) for c, j in zip((table or self.palette)[name], jitter))

    def draw(self) -> None:
        p = self.p
        skin = SKIN[p.skin]
        hair = self.colour(p.hair_colour, self.hair)
        if p.hair_length == "long":
            self.d.rounded_rectangle((42, 36, 86, 120), 12, fill=hair)
        if p.bag == "backpack":
            self._backpack(front=False)
        self._legs(skin)
        self._torso()
        self._arms(skin)
        if p.bag == "backpack":
            self._backpack(front=True)
        self.d.rectangle((58, 66, 70, 80), fill=skin)
        if p.hair_length == "long":  # strands falling over the shoulders, in front of the garment
            self.d.rounded_rectangle((42, 44, 52, 116), 4, fill=hair)
            self.d.rounded_rectangle((76, 44, 86, 116), 4, fill=hair)
        self.d.ellipse((46, 34, 82, 72), fill=skin)
        self._head_details(hair)
        if p.bag in ("handbag", "shoulder bag"):
            self._hand_bag()
        if p.umbrella:
            self._umbrella()

    def _legs(self, skin: tuple[int, int, int]) -> None:
        p, spread = self.p, self.v.leg_spread
        leg = self.colour(p.lower_colour) if p.lower == "trousers" else skin
        self.d.rectangle((43 - spread, 180, 62, 334), fill=leg)
        self.d.rectangle((66, 180, 85 + spread, 334), fill=leg)
        if p.lower == "shorts":
            self.d.rectangle((41 - spread, 176, 87 + spread, 228), fill=self.colour(p.lower_colour))
        elif p.lower == "skirt":
            self.d.polygon([(42, 176), (86, 176), (96, 256), (32, 256)], fill=self.colour(p.lower_colour))
        shoes = self.colour(p.shoes_colour)
        self.d.ellipse((36 - spread, 326, 64, 346), fill=shoes)
        self.d.ellipse((64, 326, 92 + spread, 346), fill=shoes)

    def _torso(self) -> None:
        p = self.p
        fill = self.colour(p.garment_colour)
        if p.garment == "coat":
            outline = [(36, 80), (92, 80), (98, 262), (30, 262)]
        elif p.garment == "dress":
            outline = [(38, 80), (90, 80), (102, 262), (26, 262)]
        else:
            outline = [(38, 80), (90, 80), (90, 184), (38, 184)]
        self.d.polygon(outline, fill=fill)
        if p.garment == "coat":
            self.d.line((64, 84, 64, 260), fill=tuple(int(c * 0.7) for c in fill), width=2)
        if p.stripes:
            bottom = outline[2][1]
            stripe = self.colour(p.stripes)
            for y in range(94, bottom - 4, 14):
                self.d.rectangle((40, y, 88, y + 4), fill=stripe)

    def _arms(self, skin: tuple[int, int, int]) -> None:
        sleeve = self.colour(self.p.garment_colour)
        swing = self.v.arm_swing
        for shoulder, hand in (((36, 84), (24 - swing, 182)), ((92, 84), (104 + swing, 182))):
            self.d.line((*shoulder, *hand), fill=sleeve, width=12)
            self.d.ellipse((hand[0] - 6, hand[1] - 4, hand[0] + 6, hand[1] + 8), fill=skin)

    def _head_details(self, hair: tuple[int, int, int]) -> None:
        p = self.p
        self.d.chord((45, 30, 83, 62), 160, 380, fill=hair)  # reaches below a hat's rim at the sides
        if p.hat == "cap":
            hat = self.colour(p.hat_colour)
            self.d.chord((45, 26, 83, 56), 180, 360, fill=hat)
            self.d.rectangle((60, 38, 92, 44), fill=hat)
        elif p.hat == "beanie":
            self.d.chord((44, 22, 84, 62), 180, 360, fill=self.colour(p.hat_colour))
        if p.glasses:
            for x in (52, 66):
                self.d.rectangle((x, 48, x + 10, 56), outline=(15, 15, 15), width=2)
            self.d.line((62, 51, 66, 51), fill=(15, 15, 15), width=2)

    def _backpack(self, front: bool) -> None:
        """The pack sticks out behind one shoulder; both straps cross the chest in front."""
        colour = self.colour(self.p.bag_colour)
        if front:
            for x in (46, 82):
                self.d.line((x, 80, x, 138), fill=colour, width=5)
        else:
            x0 = 88 if self.v.bag_side > 0 else 16
            self.d.rounded_rectangle((x0, 88, x0 + 24, 172), 6, fill=colour)

    def _hand_bag(self) -> None:
        side, colour = self.v.bag_side, self.colour(self.p.bag_colour)
        hand_x = 104 + self.v.arm_swing if side > 0 else 24 - self.v.arm_swing
        if self.p.bag == "handbag":
            self.d.arc((hand_x - 8, 178, hand_x + 8, 198), 180, 360, fill=colour, width=3)
            self.d.rectangle((hand_x - 11, 188, hand_x + 11, 210), fill=colour)
        else:
            start, hip = (44, 82) if side > 0 else (84, 82), (96, 168) if side > 0 else (32, 168)
            self.d.line((*start, *hip), fill=colour, width=4)
            self.d.rectangle((hip[0] - 12, hip[1] - 6, hip[0] + 12, hip[1] + 22), fill=colour)

    def _umbrella(self) -> None:
        colour = self.colour(self.p.umbrella)
        self.d.line((104, 182, 96, 20), fill=(40, 40, 40), width=3)
        self.d.pieslice((50, 2, 128, 50), 180, 360, fill=colour)
