"""Drawing styles: how a picture is drawn varies as well as what it shows.

A model trained on one fixed way of drawing learns the drawing (``tiny`` scores
far lower on people drawn by other code). Each generated image therefore samples
a ``Style`` from a *family*: body proportions, lean and pose, a palette (one
shade variant of each named colour), background kind, outline width and shading.
Two families have disjoint parameter ranges and options: ``train`` (every
training set) and ``heldout`` (evaluation only). ``classic`` is the original
fixed drawing (no style: byte-identical to the generators before styles).

Every shade stays nearer to its own named colour than to any other colour of its
table by a margin (``shade_table``), so the colour a caption names is the colour
drawn.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageFilter

FAMILIES = ("classic", "train", "heldout")
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Family:
    """Parameter ranges (low, high) and options one family samples from."""

    width: tuple[float, ...]       # horizontal scale of the figure; two ranges: (lo1, hi1, lo2, hi2)
    head: tuple[float, float]      # vertical scale of the head band
    torso: tuple[float, float]     # vertical scale of the torso band
    legs: tuple[float, float]      # vertical scale of the legs band
    lean: tuple[float, float]      # |shear| in pixels per pixel of height (sign random)
    swing: tuple[float, float]     # |arm swing| in pixels (sign random)
    spread: tuple[int, int]        # leg spread in pixels (inclusive)
    outline: tuple[int, ...]       # outline widths (0: none)
    shading: tuple[str, ...]       # "flat" | "vertical" | "side"
    backgrounds: tuple[str, ...]   # person backgrounds
    shade: tuple[float, float]     # RGB distance of a palette shade from the named colour
    skies: tuple[str, ...]         # scene skies
    grounds: tuple[str, ...]       # scene grounds
    filters: tuple[str, ...]       # scene line style: "none" | "smooth" | "edges"


FAMILY = {
    "train": Family(width=(0.88, 1.08), head=(0.9, 1.1), torso=(0.92, 1.08), legs=(0.9, 1.1), lean=(0.0, 0.04),
                    swing=(0.0, 7.0), spread=(0, 8), outline=(0, 1, 2), shading=("flat", "vertical"),
                    backgrounds=("plain", "stripes", "gradient", "noise", "horizon"), shade=(0.0, 16.0),
                    skies=("flat", "gradient"), grounds=("flat", "speckle"), filters=("none", "smooth")),
    "heldout": Family(width=(0.74, 0.82, 1.12, 1.2), head=(1.15, 1.3), torso=(0.8, 0.88), legs=(1.12, 1.2),
                      lean=(0.06, 0.09), swing=(9.0, 13.0), spread=(10, 14), outline=(3, 4), shading=("side",),
                      backgrounds=("checker", "dots"), shade=(22.0, 30.0), skies=("bands",), grounds=("stripes",),
                      filters=("edges",)),
}
_VARIANTS = 4          # shades per colour and family
_MIN_MARGIN = 12.0     # how much nearer a shade stays to its own colour than to any other


def check_family(family: str) -> str:
    """``family`` if it names a drawing style family, else a clear error."""
    from calibclip.errors import ConfigError

    if family not in FAMILIES:
        raise ConfigError(f"unknown drawing style {family!r}", f"use one of {', '.join(FAMILIES)}")
    return family


def nearest_margin(rgb: np.ndarray, name: str, table: dict[str, RGB]) -> float:
    """Distance to the nearest *other* colour of ``table`` minus the distance to ``table[name]``."""
    dist = {k: float(np.linalg.norm(rgb - np.array(v, dtype=float))) for k, v in table.items()}
    return min(d for k, d in dist.items() if k != name) - dist[name]


def shade_table(table: dict[str, RGB], family: str, salt: int = 0) -> dict[str, list[RGB]]:
    """Per named colour, ``_VARIANTS`` shades at the family's distance range (deterministic per ``salt``).

    A shade is the named colour moved in a random RGB direction; candidates that
    leave [0, 255] or come within ``_MIN_MARGIN`` of another colour are redrawn.
    """
    low, high = FAMILY[family].shade
    rng = np.random.default_rng([FAMILIES.index(family), salt, 41])
    out: dict[str, list[RGB]] = {}
    for name, base in table.items():
        found: list[RGB] = [tuple(base)] if low == 0.0 else []
        for _ in range(2000):
            if len(found) >= _VARIANTS:
                break
            direction = rng.normal(size=3)
            rgb = np.array(base, dtype=float) + direction / np.linalg.norm(direction) * rng.uniform(low, high)
            if rgb.min() >= 0 and rgb.max() <= 255 and nearest_margin(rgb, name, table) >= _MIN_MARGIN:
                found.append(tuple(int(round(c)) for c in rgb))
        out[name] = found or [tuple(base)]
    return out


@dataclass(frozen=True)
class Style:
    """How one person picture is drawn (recorded per image in ``synth_meta.json``)."""

    family: str
    width: float
    head: float
    torso: float
    legs: float
    lean: float
    outline: int
    shading: str
    background: str
    shades: tuple[tuple[str, int], ...]   # (colour name, shade variant index), garments and hair

    def to_dict(self) -> dict:
        return asdict(self)


def _uniform(rng: np.random.Generator, bounds: tuple[float, ...]) -> float:
    pair = int(rng.integers(len(bounds) // 2)) * 2
    return float(rng.uniform(bounds[pair], bounds[pair + 1]))


def _signed(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds) * rng.choice([-1.0, 1.0]))


def sample_style(rng: np.random.Generator, family: str, colours: tuple[str, ...]) -> Style:
    """One person style of ``family``; ``colours`` are the names whose shade is picked."""
    f = FAMILY[family]
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    return Style(family=family, width=_uniform(rng, f.width), head=_uniform(rng, f.head),
                 torso=_uniform(rng, f.torso), legs=_uniform(rng, f.legs), lean=_signed(rng, f.lean),
                 outline=int(pick(f.outline)), shading=str(pick(f.shading)), background=str(pick(f.backgrounds)),
                 shades=tuple((name, int(rng.integers(_VARIANTS))) for name in colours))


def pose(rng: np.random.Generator, family: str) -> tuple[float, int]:
    """(arm swing, leg spread) of the family's pose ranges."""
    f = FAMILY[family]
    return _signed(rng, f.swing), int(rng.integers(f.spread[0], f.spread[1] + 1))


def shade_ramp(figure: np.ndarray, kind: str) -> np.ndarray:
    """Shading of an (H, W, 4) figure: light from above ("vertical") or from the left ("side")."""
    h, w = figure.shape[:2]
    if kind == "vertical":
        ramp = np.linspace(1.06, 0.94, h, dtype=np.float32)[:, None]
    elif kind == "side":
        ramp = np.linspace(1.08, 0.9, w, dtype=np.float32)[None, :]
    else:
        return figure
    out = figure.astype(np.float32)
    out[..., :3] *= ramp[..., None]
    return out.clip(0, 255).astype(np.uint8)


def outline(figure: Image.Image, width: int) -> Image.Image:
    """A ring of ``width`` pixels around the silhouette, in a dark shade of the colour it borders."""
    if width <= 0:
        return figure
    size = 2 * width + 1
    alpha = np.asarray(figure.getchannel("A"))
    grown = np.asarray(figure.getchannel("A").filter(ImageFilter.MaxFilter(size)))
    ink = np.asarray(figure.convert("RGB").filter(ImageFilter.MaxFilter(size)), dtype=np.float32) * 0.45
    ring = (grown > 0) & (alpha == 0)
    pixels = np.asarray(figure).copy()
    pixels[ring, :3] = ink[ring].astype(np.uint8)
    pixels[ring, 3] = 255
    return Image.fromarray(pixels, "RGBA")


def reshape(figure: Image.Image, style: Style, bands: tuple[int, int]) -> Image.Image:
    """Stretch the head / torso / legs bands (split at rows ``bands``), the width, then lean (feet fixed)."""
    w, h = figure.size
    cuts = (0, *bands, h)
    parts = [figure.crop((0, a, w, b)) for a, b in zip(cuts, cuts[1:])]
    heights = [max(1, round(p.height * s)) for p, s in zip(parts, (style.head, style.torso, style.legs))]
    width = max(1, round(w * style.width))
    out = Image.new("RGBA", (width, sum(heights)), (0, 0, 0, 0))
    top = 0
    for part, height in zip(parts, heights):
        out.paste(part.resize((width, height), Image.BILINEAR), (0, top))
        top += height
    shift = style.lean * out.height
    # output (x, y) reads input (x + lean * (y - height)): the feet stay, the head moves by ``shift``
    return out.transform(out.size, Image.AFFINE, (1, style.lean, -shift, 0, 1, 0), Image.BILINEAR)


def scene_style(seed: int, family: str, colours: tuple[str, ...]) -> dict:
    """The style of one scene (sky, ground, line filter, shade of each colour): a pure function of its seed."""
    rng = np.random.default_rng([int(seed), FAMILIES.index(family), 7])
    f = FAMILY[family]
    pick = lambda options: str(options[int(rng.integers(len(options)))])  # noqa: E731
    return {"sky": pick(f.skies), "ground": pick(f.grounds), "filter": pick(f.filters),
            "shades": {name: int(rng.integers(_VARIANTS)) for name in colours}}


def scene_filter(image: Image.Image, kind: str) -> Image.Image:
    """A scene's line style: unchanged, softened edges, or inked edges."""
    if kind == "smooth":
        return image.filter(ImageFilter.SMOOTH)
    if kind == "edges":
        return image.filter(ImageFilter.EDGE_ENHANCE_MORE)
    return image
