"""Synthetic person-retrieval benchmark written in the real CUHK-PEDES / ICFG-PEDES / RSTPReid layouts.

Identities share a few dominant garment colours, so plain image-text matching
on the big garment ranks many people equally; only the small details separate
them. Splits are by identity, and some (garment colour, bag colour) pairs occur
only in the test split, so test numbers measure composition, not memory.
``synth_meta.json`` keeps every image's exact attributes as ground truth.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from calibclip.datasets.captions_pedes import caption_pair, caption_tokens, person_captions
from calibclip.datasets.draw_person import (HAIR, PALETTE, Person, View, encode_jpeg, render_person, sample_style,
                                            sample_view, styled_view)
from calibclip.datasets.drawing_style import Style, check_family
from calibclip.datasets.pedes import DATASET_DIRS, ID_BASE, LAYOUTS, PedesRecord, write_pedes
from calibclip.errors import DatasetLayoutError

log = logging.getLogger(__name__)

SCALES = {"small": (100, 20, 60), "default": (600, 100, 200)}  # identities in (train, val, test)
DOMINANT_COLOURS = ("red", "blue", "black", "white", "green")
DETAIL_COLOURS = tuple(PALETTE)
HELDOUT_PER_COLOUR = 2   # bag colours per dominant colour whose pairing only the test split has
FORCED_HELDOUT = 0.5     # share of test identities drawn with a held-out pair
META_FILE = "synth_meta.json"
GENERATOR = "calibclip.datasets.synthetic_pedes"
_NAMES = {
    "cuhkpedes": "{split}_query/p{id:05d}_s{index}.jpg",
    "icfgpedes": "{split}/{id:04d}/{id:04d}_c{camera:02d}_{index:04d}.jpg",
    "rstpreid": "{id:04d}_c{camera:02d}_{index:04d}.jpg",
    "annotations": "{id:05d}/{index:02d}.jpg",
}
_POOL_MIN_IMAGES = 600   # below this a process pool costs more than it saves


@dataclass(frozen=True)
class Shot:
    """One photo of one identity with its two captions."""

    pid: int
    split: str
    index: int
    person: Person
    view: View
    captions: tuple[str, str]
    style: Style | None = None

    def path(self, layout: str) -> str:
        return _NAMES[layout].format(split=self.split, id=self.pid + ID_BASE.get(layout, 0),
                                     index=self.index, camera=self.view.camera)


@dataclass(frozen=True)
class PedesOptions:
    """How a person set is drawn and captioned (every value is recorded in ``synth_meta.json``)."""

    style: str = "classic"        # drawing style family: classic | train | heldout (``drawing_style``)
    lookalike_group: int = 0      # > 1: identities in groups sharing gender, garment and its colour
    lang: str = "en"              # caption language: en | zh
    salient_share: float = 0.0    # share of captions that name only the subject and garment (web style)

    def check(self) -> "PedesOptions":
        check_family(self.style)
        if self.lang not in ("en", "zh"):
            raise DatasetLayoutError(f"unsupported caption language {self.lang!r}", "use en or zh")
        if not 0.0 <= self.salient_share <= 1.0 or self.lookalike_group < 0:
            raise DatasetLayoutError(f"salient_share {self.salient_share} must be in [0, 1] and lookalike_group "
                                     f"{self.lookalike_group} >= 0")
        return self


def generate_pedes(out_dir: str | Path, seed: int = 0, ids: int | None = None, scale: str = "default",
                   layouts: Sequence[str] = ("cuhkpedes",), options: PedesOptions | None = None) -> dict:
    """Generate the benchmark under ``out_dir/<dataset folder>/`` for each layout; return a summary.

    ``options`` change the drawing style family, group identities into look-alikes and
    set the captions' language and web-style share (default: the classic set).

    Examples:
        >>> summary = generate_pedes("data/synth", seed=0, scale="small", layouts=("cuhkpedes", "rstpreid"))
        >>> load_pedes(summary["roots"]["cuhkpedes"], "test")
        >>> generate_pedes("data/lookalike", seed=1, options=PedesOptions(style="heldout", lookalike_group=4))
    """
    out = Path(out_dir)
    options = (options or PedesOptions()).check()
    layouts = _check_layouts(out, layouts)
    sizes = split_sizes(scale, ids)
    rng = np.random.default_rng(seed)
    heldout = _heldout_pairs(rng)
    people = _sample_identities(rng, sizes, heldout, options.lookalike_group)
    shots = _plan_shots(rng, seed, people, options)
    images = _render_all(shots, seed)
    out.mkdir(parents=True, exist_ok=True)
    # mark the folder as ours before writing, so a re-run after an interruption may overwrite it
    (out / META_FILE).write_text(json.dumps({"generator": GENERATOR, "complete": False}), encoding="utf-8")
    roots = {name: out / DATASET_DIRS[name] for name in layouts}
    _write_images(shots, images, roots)
    for name, root in roots.items():
        write_pedes(root, [_record(shot, name) for shot in shots], name)
    meta = _meta(seed, scale, sizes, heldout, people, shots, layouts, options)
    (out / META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
    log.info("wrote %d images of %d identities in %s layout(s) under %s", len(shots), len(people),
             ",".join(layouts), out)
    return {"out": str(out), "roots": {k: str(v) for k, v in roots.items()}, "meta": str(out / META_FILE),
            "seed": seed, "ids": meta["counts"]["ids"], "images": meta["counts"]["images"],
            "captions": meta["counts"]["captions"], "heldout_pairs": len(heldout)}


def read_meta(path: str | Path) -> dict:
    """A generator's ``synth_meta.json`` (this generator's or the TIGR generator's)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"no synth_meta.json at {path}", "pass a folder written by `calibclip synth`")
    return json.loads(path.read_text(encoding="utf-8"))


def draw_people_folder(folder: str | Path, count: int, seed: int = 0,
                       garment_colours: Sequence[str] | None = None) -> list[tuple[Path, str]]:
    """A flat folder of ``count`` drawn pedestrians (``person_000.jpg`` …) → (path, one caption) per image.

    ``garment_colours`` keeps only people whose dominant garment has one of these colours, so a
    description of anyone else is known to be absent from the folder (search demos and tests).
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: list[tuple[Path, str]] = []
    while len(out) < count:
        person = sample_person(rng)
        if garment_colours is not None and person.garment_colour not in garment_colours:
            continue
        path = folder / f"person_{len(out):03d}.jpg"
        path.write_bytes(encode_jpeg(render_person(person, sample_view(rng), rng)))
        out.append((path, caption_pair(person, rng)[0]))
    return out


def split_sizes(scale: str = "default", ids: int | None = None) -> dict[str, int]:
    """Identities per split: a named scale, or ``ids`` split 6:1:2 (train:val:test)."""
    if scale not in SCALES:
        raise DatasetLayoutError(f"unknown scale {scale!r}", f"use one of {', '.join(SCALES)}")
    if ids is None:
        return dict(zip(("train", "val", "test"), SCALES[scale]))
    if ids < 3:
        raise DatasetLayoutError(f"--ids {ids} is too few", "use at least 3 identities (one per split)")
    test, val = max(1, round(ids * 2 / 9)), max(1, round(ids / 9))
    return {"train": ids - test - val, "val": val, "test": test}


def sample_person(rng: np.random.Generator) -> Person:
    """Draw one identity's attributes (the distribution is documented in the README, "Synthetic pedestrians")."""
    gender = str(rng.choice(["man", "woman"]))
    woman = gender == "woman"
    garment = str(rng.choice(["coat", "dress", "top"], p=[0.4, 0.25, 0.35] if woman else [0.5, 0.0, 0.5]))
    colour = str(rng.choice(DOMINANT_COLOURS))
    others = [c for c in DETAIL_COLOURS if c != colour]
    # a long coat hides shorts and skirts, so under a coat only trousers are drawn and described
    lower = None if garment == "dress" else "trousers" if garment == "coat" else str(
        rng.choice(["trousers", "shorts", "skirt"], p=[0.4, 0.2, 0.4] if woman else [0.7, 0.3, 0.0]))
    bag = str(rng.choice(["none", "backpack", "handbag", "shoulder bag"]))
    hat = str(rng.choice(["none", "cap", "beanie"], p=[0.55, 0.25, 0.2]))
    return Person(
        gender=gender, hair_colour=str(rng.choice(list(HAIR))),
        hair_length=str(rng.choice(["short", "long"], p=[0.3, 0.7] if woman else [0.85, 0.15])),
        garment=garment, garment_colour=colour,
        stripes=str(rng.choice(others)) if garment != "coat" and rng.random() < 0.3 else None,
        lower=lower, lower_colour=str(rng.choice(DETAIL_COLOURS)) if lower else None,
        shoes_colour=str(rng.choice(DETAIL_COLOURS)),
        bag=bag, bag_colour=str(rng.choice(DETAIL_COLOURS)) if bag != "none" else None,
        hat=hat, hat_colour=str(rng.choice(DETAIL_COLOURS)) if hat != "none" else None,
        glasses=bool(rng.random() < 0.3),
        umbrella=str(rng.choice(DETAIL_COLOURS)) if rng.random() < 0.1 else None,
        skin=int(rng.integers(4)))


def _check_layouts(out: Path, layouts: Sequence[str]) -> list[str]:
    """Known layouts only, and never overwrite a dataset this generator did not write."""
    layouts = list(dict.fromkeys(layouts))
    unknown = [name for name in layouts if name not in LAYOUTS]
    if unknown or not layouts:
        raise DatasetLayoutError(f"unknown pedes layout(s) {unknown or layouts}",
                                 f"use a comma list of {', '.join(LAYOUTS)}")
    if out.exists() and not out.is_dir():
        raise DatasetLayoutError(f"output path is a file: {out}", "choose a folder for --out")
    if not (out / META_FILE).is_file():
        for name in layouts:
            if (out / DATASET_DIRS[name]).exists():
                raise DatasetLayoutError(f"refusing to overwrite {out / DATASET_DIRS[name]}: not generated here",
                                         "choose an empty --out folder")
    return layouts


def _heldout_pairs(rng: np.random.Generator) -> set[tuple[str, str]]:
    """Per dominant colour, a few bag colours whose pairing with it only the test split has."""
    return {(garment, str(bag)) for garment in DOMINANT_COLOURS
            for bag in rng.choice(DETAIL_COLOURS, size=HELDOUT_PER_COLOUR, replace=False)}


def _sample_identities(rng: np.random.Generator, sizes: dict[str, int], heldout: set[tuple[str, str]],
                       group: int = 0) -> list[tuple[str, Person]]:
    """(split, person) per identity: unique attribute sets, held-out pairs only in test.

    With ``group`` > 1 every run of ``group`` identities in a split shares the first one's
    gender, garment and garment colour (look-alikes that differ only in the details).
    """
    seen: set[Person] = set()
    people: list[tuple[str, Person]] = []
    for split, count in sizes.items():
        leader = None
        for i in range(count):
            like = leader if group > 1 and i % group else None
            force = split == "test" and i < FORCED_HELDOUT * count
            person = _new_person(rng, split, force, sorted(heldout), heldout, seen, like)
            leader = person if like is None else leader
            seen.add(person)
            people.append((split, replace(person, skin=int(rng.integers(4)))))
    return people


def _new_person(rng: np.random.Generator, split: str, force: bool, forced: list[tuple[str, str]],
                heldout: set[tuple[str, str]], seen: set[Person], like: Person | None) -> Person:
    """A person not ``seen`` yet (skin 0), with a held-out pair when ``force``, looking like ``like`` if given."""
    while True:
        person = replace(sample_person(rng), skin=0)
        if like is not None:
            if (person.gender, person.garment) != (like.gender, like.garment):
                continue
            person = replace(person, garment_colour=like.garment_colour,
                             stripes=person.stripes if person.stripes != like.garment_colour else None)
        if force:
            options = [p for p in forced if like is None or p[0] == like.garment_colour]
            garment_colour, bag_colour = options[int(rng.integers(len(options)))]
            person = replace(person, garment_colour=garment_colour, bag_colour=bag_colour,
                             bag=person.bag if person.bag != "none" else "backpack",
                             stripes=person.stripes if person.stripes != garment_colour else None)
        pair = (person.garment_colour, person.bag_colour)
        if person not in seen and (split == "test" or pair not in heldout):
            return person


def _plan_shots(rng: np.random.Generator, seed: int, people: list[tuple[str, Person]],
                options: PedesOptions) -> list[Shot]:
    shots = []
    for pid, (split, person) in enumerate(people):
        for index in range(int(rng.integers(2, 5))):
            shot_rng = np.random.default_rng([seed, pid, index])
            view = sample_view(shot_rng)
            captions = person_captions(person, shot_rng, options.lang, options.salient_share)
            style = None
            if options.style != "classic":  # its own generator: the classic draws stay as they were
                style_rng = np.random.default_rng([seed, pid, index, 2])
                style = sample_style(style_rng, options.style)
                view = styled_view(view, style, style_rng)
            shots.append(Shot(pid, split, index, person, view, captions, style))
    return shots


def _render(job: tuple[Person, View, int, int, int, Style | None]) -> bytes:
    person, view, seed, pid, index, style = job
    return encode_jpeg(render_person(person, view, np.random.default_rng([seed, pid, index, 1]), style))


def _render_all(shots: list[Shot], seed: int) -> list[bytes]:
    """JPEG bytes per shot; each shot has its own seed, so a process pool gives identical bytes."""
    jobs = [(s.person, s.view, seed, s.pid, s.index, s.style) for s in shots]
    workers = min(os.cpu_count() or 1, 8)
    if len(jobs) < _POOL_MIN_IMAGES or workers < 2:
        return [_render(job) for job in tqdm(jobs, desc="drawing", unit="img", leave=False)]
    # fork: children only draw with numpy and PIL, and need no re-import of the caller's main module
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(tqdm(pool.map(_render, jobs, chunksize=32), total=len(jobs), desc="drawing", unit="img",
                         leave=False))


def _write_images(shots: list[Shot], images: list[bytes], roots: dict[str, Path]) -> None:
    """Write each image once, then hard-link it into the other layouts (copy where links fail)."""
    first, *rest = roots
    for shot, data in zip(shots, images):
        source = roots[first] / "imgs" / shot.path(first)
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(data)
        for name in rest:
            target = roots[name] / "imgs" / shot.path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)


def _record(shot: Shot, layout: str) -> PedesRecord:
    return PedesRecord(split=shot.split, pid=shot.pid, path=shot.path(layout), captions=shot.captions,
                       tokens=tuple(tuple(caption_tokens(c)) for c in shot.captions))


def _meta(seed: int, scale: str, sizes: dict[str, int], heldout: set[tuple[str, str]],
          people: list[tuple[str, Person]], shots: list[Shot], layouts: list[str], options: PedesOptions) -> dict:
    counts = {key: {split: 0 for split in sizes} for key in ("ids", "images", "captions")}
    grouped = options.lookalike_group > 1
    groups = _groups(people, options.lookalike_group) if grouped else [0] * len(people)
    for split, _ in people:
        counts["ids"][split] += 1
    for shot in shots:
        counts["images"][shot.split] += 1
        counts["captions"][shot.split] += len(shot.captions)
    return {
        "generator": GENERATOR, "complete": True, "seed": seed, "scale": scale, "counts": counts,
        **asdict(options),
        "dominant_colours": list(DOMINANT_COLOURS), "heldout_pairs": [list(p) for p in sorted(heldout)],
        "id_base": {name: ID_BASE.get(name, 0) for name in layouts},
        "identities": [{"pid": pid, "split": split, "attributes": person.to_dict(), **({"group": g} if grouped else {})}
                       for pid, ((split, person), g) in enumerate(zip(people, groups))],
        "images": [{"pid": s.pid, "split": s.split, "index": s.index, "view": s.view.to_dict(),
                    **({"style": s.style.to_dict()} if s.style else {}),
                    "captions": list(s.captions), "paths": {name: s.path(name) for name in layouts}}
                   for s in shots],
    }



def _groups(people: list[tuple[str, Person]], group: int) -> list[int]:
    """Look-alike group of every identity: runs of ``group`` within a split, numbered across splits."""
    out, index, current = [], 0, -1
    for i, (split, _) in enumerate(people):
        index = index + 1 if i and people[i - 1][0] == split else 0
        current += index % group == 0
        out.append(current)
    return out
