"""A synthetic TIGR-100k: compositional queries with exact graded relevance over drawn scenes.

Each query is a subject ("a woman"/"a man") with 2–4 AND facts and 0–2 NOT facts. For
every query we draw HR targets (all AND, no NOT), MR targets (exactly one clause broken:
one AND missing or one NOT present) and hard IR distractors (two or more broken), add
random scenes, then label *every* gallery image against *every* query from its scene
graph, so the jsonl's HR/MR lists are exact. Training scenes (``lmdb/train_imgs``) never
show the held-out (gender, colour, garment) combinations, so evaluation measures
composition rather than memory (DESIGN "Embedded default").
"""
from __future__ import annotations

import logging
import random
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

from tqdm.auto import tqdm

from calibclip.composite.clauses import format_tigr_text
from calibclip.datasets.draw_scene import render_jpeg
from calibclip.datasets.drawing_style import check_family
from calibclip.datasets.scene_graph import (COLORS, GARMENTS, GENDERS, OBJECTS, PLACES, SIDES, Scene,
                                            build_scene, random_scene, scene_facts)
from calibclip.datasets.tigr_phrases import caption, query_clauses
from calibclip.datasets.tigr_writer import TigrWriter
from calibclip.errors import ConfigError
from calibclip.types import Clauses

log = logging.getLogger(__name__)

# queries, HR / MR / hard-IR targets per query, extra random gallery scenes, training scenes
SCALES = {"small": dict(queries=40, hr=3, mr=3, ir=2, extra=80, train=200),
          "default": dict(queries=300, hr=3, mr=3, ir=2, extra=600, train=6000)}
HELD_OUT_SHARE = 0.2
VERSION = 1


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _and_options(subject: str, rng: random.Random) -> dict[str, str]:
    """One candidate AND fact per category (besides the garment, which every query has)."""
    return {"place": f"{subject}.place={rng.choice(PLACES)}",
            "action": f"{subject}.action={rng.choice(('dancing', 'sitting'))}",
            "hat": f"{subject}.hat={rng.choice(COLORS)}", "umbrella": f"{subject}.umbrella",
            "time": f"{subject}.time=night", "dog": f"dog.{rng.choice(SIDES)}={subject}",
            "car": f"car={rng.choice(COLORS)}", "bicycle": "bicycle", "ball": f"ball={rng.choice(COLORS)}"}


def sample_query(rng: random.Random) -> dict[str, Any]:
    """A subject with 2–4 AND facts (garment first) and 0–2 NOT facts from unused categories."""
    subject = rng.choice(GENDERS)
    wear = f"{subject}.wear={rng.choice(COLORS)} {rng.choice(GARMENTS[subject])}"
    options = _and_options(subject, rng)
    weights = {"place": 4, "action": 4, "hat": 2, "umbrella": 1, "time": 1, "dog": 2, "car": 2, "bicycle": 1, "ball": 1}
    chosen: list[str] = []
    for _ in range(rng.choice((1, 2, 3, 3))):
        left = [c for c in options if c not in chosen]
        chosen.append(rng.choices(left, weights=[weights[c] for c in left])[0])
    nots = {"shoes": f"{subject}.shoes", "hat": f"{subject}.hat", "umbrella": "umbrella",
            **{kind: kind for kind in OBJECTS}}
    free = [c for c in nots if c not in chosen]
    not_facts = [nots[c] for c in rng.sample(free, k=rng.choices((0, 1, 2), weights=(3, 4, 3))[0])]
    return {"subject": subject, "and": [wear] + [options[c] for c in chosen], "not": not_facts}


def sample_query_clauses(seed: int, count: int, lang: str = "en") -> list[Clauses]:
    """``count`` synthetic TIGR queries with their gold decomposition, without drawing any scene.

    For checking rewriters on as many queries as wanted; the same seed gives the
    same queries in both languages (not the queries of ``generate_tigr(seed)``).
    """
    rng = random.Random(seed)
    queries = [sample_query(rng) for _ in range(count)]
    return [query_clauses(q["subject"], q["and"], q["not"], lang) for q in queries]


def violations(query: dict[str, Any], facts: set[str]) -> int:
    """How many clauses an image with ``facts`` breaks: missing AND facts plus present NOT facts."""
    return sum(f not in facts for f in query["and"]) + sum(f in facts for f in query["not"])


def _targets(query: dict[str, Any], rng: random.Random, sizes: dict[str, int]) -> list[Scene]:
    """HR, MR (one broken clause) and hard IR (2+ broken) scenes for one query."""
    ands, nots = set(query["and"]), set(query["not"])
    clauses = sorted(ands | nots)
    scenes = [build_scene(rng, ands, nots) for _ in range(sizes["hr"])]
    for k in [1] * sizes["mr"] + [rng.randint(2, min(3, len(clauses)))] * sizes["ir"]:
        broken = set(rng.sample(clauses, k))
        scenes.append(build_scene(rng, (ands - broken) | (nots & broken), (nots - broken) | (ands & broken)))
    return scenes


def _held_out(rng: random.Random) -> set[str]:
    combos = sorted(f"{g}.wear={c} {w}" for g in GENDERS for c in COLORS for w in GARMENTS[g])
    return set(rng.sample(combos, round(HELD_OUT_SHARE * len(combos))))


def _train_scene(rng: random.Random, held_out: set[str]) -> Scene:
    while True:
        scene = random_scene(rng)
        if not scene_facts(scene) & held_out:
            return scene


def _label(queries: list[dict[str, Any]], gallery: list[tuple[str, Scene]]) -> None:
    """Exact HR/MR lists for every query over the whole gallery."""
    facts = [(image_id, scene_facts(scene)) for image_id, scene in gallery]
    for query in tqdm(queries, desc="labelling", leave=False):
        counts = [(image_id, violations(query, f)) for image_id, f in facts]
        query["hr"] = [i for i, v in counts if v == 0]
        query["mr"] = [i for i, v in counts if v == 1]


def _records(queries: list[dict[str, Any]], lang: str) -> Iterable[dict[str, Any]]:
    for q in queries:
        text = format_tigr_text(query_clauses(q["subject"], q["and"], q["not"], lang))
        yield {"text_id": q["text_id"], "text": text, "image_ids": q["hr"], "image_xiangsi_ids": q["mr"]}


def generate_tigr(out_dir: str | Path, seed: int = 0, scale: str = "default",
                  langs: tuple[str, ...] = ("en", "zh"), style: str = "classic") -> dict[str, Any]:
    """Write a synthetic TIGR benchmark (jsonl + imgs/ + LMDBs + ``synth_meta.json``) → summary.

    ``style`` is the drawing style family of every scene (``drawing_style``: classic, train, heldout).

    Example:
        >>> generate_tigr("data/synth_tigr", seed=0, scale="small")["queries"]
        40
    """
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}", f"choose one of: {', '.join(SCALES)}")
    bad = [lang for lang in langs if lang not in ("en", "zh")]
    if bad or not langs:
        raise ConfigError(f"unsupported language(s) {bad or list(langs)}", "use en, zh or en,zh")
    check_family(style)
    started, sizes, rng = time.perf_counter(), SCALES[scale], random.Random(seed)
    writer = TigrWriter(out_dir, marker="synth_meta.json")
    held_out = _held_out(rng)
    queries = [dict(sample_query(rng), text_id=_uuid(rng)) for _ in range(sizes["queries"])]
    scenes = [s for q in queries for s in _targets(q, rng, sizes)] + [random_scene(rng) for _ in range(sizes["extra"])]
    rng.shuffle(scenes)
    gallery = [(_uuid(rng), s) for s in scenes]
    train = [(_uuid(rng), _train_scene(rng, held_out)) for _ in range(sizes["train"])]
    _label(queries, gallery)
    relevant = {i for q in queries for i in (*q["hr"], *q["mr"])}
    writer.write_images("imgs", ((i, render_jpeg(s, style=style)) for i, s in tqdm(gallery, desc="gallery",
                                                                                   leave=False)), folder_ids=relevant)
    writer.write_images("train_imgs", ((i, render_jpeg(s, style=style)) for i, s in tqdm(train, desc="train",
                                                                                         leave=False)), folder_ids=())
    text_ids = [_uuid(rng) for _ in range(len(gallery) + len(train))]
    for lang in langs:
        writer.write_queries(lang, "synth_tigr", _records(queries, lang))
        writer.write_pairs(lang, ((i, t, caption(s, lang)) for (i, s), t in zip(train + gallery, text_ids)))
    meta = {"version": VERSION, "seed": seed, "scale": scale, "style": style, "held_out": sorted(held_out),
            "queries": {q["text_id"]: {"subject": q["subject"], "and": q["and"], "not": q["not"],
                                       "held_out": q["and"][0] in held_out} for q in queries},
            "images": {i: {"split": split, "scene": s, "facts": sorted(scene_facts(s))}
                       for split, items in (("gallery", gallery), ("train", train)) for i, s in items}}
    writer.write_marker(meta)
    return {"out": str(writer.root), "queries": len(queries), "gallery_images": len(gallery),
            "train_images": len(train), "hr_per_query": round(sum(len(q["hr"]) for q in queries) / len(queries), 2),
            "mr_per_query": round(sum(len(q["mr"]) for q in queries) / len(queries), 2),
            "langs": list(langs), "style": style, "seconds": round(time.perf_counter() - started, 1)}
