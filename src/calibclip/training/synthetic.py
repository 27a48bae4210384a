"""The tiny model's training data: the generated synthetic sets (``datasets.generated``) loaded as pairs."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from calibclip.datasets.synthetic_pedes import META_FILE, read_meta
from calibclip.errors import DatasetLayoutError
from calibclip.training.data import PairSet, build_pairs
from calibclip.training.dominant import attribute_key, dominant_key

log = logging.getLogger(__name__)


def pedes_pairs(root: Path, split: str, size: tuple[int, int], max_images: int | None = None,
                joined: bool = False, layout: str | None = None, lazy: bool = False,
                captions: CaptionPlan | None = None) -> PairSet:
    """Every caption of a person split paired with its image; the group is the person id.

    ``captions`` replaces the stored captions with a first draw of that plan (languages,
    web-style share; ``pedes_recaptioner`` draws the same layout every epoch).

    ``joined`` adds, per image, its captions joined into one text: each caption
    is partial, the pair describes the whole person, so the joined text
    supervises every detail at once (and clause dropout cuts varied partial
    descriptions out of it). ``lazy`` decodes the images per batch (dataset folders).
    """
    from calibclip.datasets.pedes import load_pedes

    data = load_pedes(root, split, layout)
    keep = len(data.image_paths) if max_images is None else min(max_images, len(data.image_paths))
    if captions is not None:
        per_image = _caption_sampler(root, split, captions)(np.random.default_rng(captions.seed))[:keep]
    else:
        per_image = [[] for _ in range(keep)]
        for caption, i in zip(data.captions, data.caption_image_index):
            if i < keep and caption.strip():
                per_image[i].append(caption)
    blocks = len(captions.langs) if captions is not None else 1
    pairs = [(i, text, int(data.image_pids[i])) for i, text in _pedes_texts(per_image, joined, blocks)]
    return build_pairs(data.image_paths[:keep], pairs, size, desc=f"decoding pedes {split}", lazy=lazy)


def pedes_keys(root: Path, pairs: PairSet, split: str = "train", layout: str | None = None) -> list[str | None]:
    """The dominant attribute of every pair's person (``training.dominant``), pair order.

    A generated set (``synth_meta.json`` beside it) gives the exact garment and
    colour; any other dataset the first caption phrase naming a coloured garment
    among the image's captions.
    """
    from calibclip.datasets.pedes import load_pedes

    data = load_pedes(root, split, layout)
    if (Path(root).parent / META_FILE).is_file():
        people = pedes_identities(root, data.layout)
        per_image = [attribute_key(p["garment_colour"], p["garment"])
                     for p in (people[int(pid)] for pid in data.image_pids)]
    else:
        per_image = [None] * len(data.image_paths)
        for caption, i in zip(data.captions, data.caption_image_index):
            per_image[i] = per_image[i] or dominant_key(caption)
    return [per_image[i] for i in pairs.caption_image.tolist()]


@dataclass(frozen=True)
class CaptionPlan:
    """Which captions a generated person set is trained on, drawn from each person's exact attributes."""

    langs: tuple[str, ...] = ("en",)   # two captions per image in each language, in this order
    salient_share: float = 0.0         # chance that a caption names only the subject and garment (web style)
    seed: int = 0                      # the first draw (``pedes_pairs``); later epochs draw from the trainer's rng


def pedes_recaptioner(root: Path, split: str, joined: bool = False,
                      captions: CaptionPlan | None = None) -> Callable[[np.random.Generator], list[str]]:
    """Fresh captions for every pair of ``pedes_pairs(root, split, joined=joined, captions=captions)``, same order.

    Drawn by the generator's own captioners from each person's exact attributes
    (``synth_meta.json``): new wording and a new split of the details between
    the two captions every epoch, so the text side cannot memorise captions.
    """
    captions = captions or CaptionPlan()
    sample = _caption_sampler(root, split, captions)
    return lambda rng: [text for _, text in _pedes_texts(sample(rng), joined, len(captions.langs))]


def _caption_sampler(root: Path, split: str,
                     plan: CaptionPlan) -> Callable[[np.random.Generator], list[list[str]]]:
    """rng → per image of the split, its two captions in each of ``plan.langs``."""
    from calibclip.datasets.captions_pedes import person_captions
    from calibclip.datasets.draw_person import Person
    from calibclip.datasets.pedes import load_pedes

    data = load_pedes(root, split)
    counts = np.bincount(data.caption_image_index, minlength=len(data.image_paths))
    if (counts != 2).any():
        raise DatasetLayoutError(f"{root} ({split}) has images without exactly two captions",
                                 "resampling captions needs a set written by the synthetic generator")
    people = pedes_identities(root, data.layout)
    persons = [Person(**people[int(pid)]) for pid in data.image_pids]
    return lambda rng: [[text for lang in plan.langs for text in person_captions(p, rng, lang, plan.salient_share)]
                        for p in persons]


def _pedes_texts(per_image: list[list[str]], joined: bool, blocks: int = 1) -> list[tuple[int, str]]:
    """(image index, text) for every caption, then every image's captions joined (within each of
    ``blocks`` equal runs: one per language)."""
    texts = [(i, caption) for i, captions in enumerate(per_image) for caption in captions]
    if joined:
        for i, captions in enumerate(per_image):
            step = max(1, len(captions) // blocks)
            texts += [(i, " ".join(captions[k:k + step])) for k in range(0, len(captions), step) if step > 1]
    return texts


def pedes_identities(root: Path, layout: str) -> dict[int, dict[str, Any]]:
    """Person id as the annotations write it → the generator's attributes of that person."""
    meta = read_meta(Path(root).parent / META_FILE)
    base = meta["id_base"].get(layout, 0)
    return {p["pid"] + base: p["attributes"] for p in meta["identities"]}


def tigr_pairs(root: Path, langs: tuple[str, ...], size: tuple[int, int],
               max_scenes: int | None = None) -> tuple[PairSet, list[str]]:
    """Training-scene captions of every language; the group is the scene (its en and zh captions).

    Only ``lmdb/train_imgs`` scenes are used (the first ``max_scenes`` of them):
    the gallery the queries are evaluated on is never trained on. Returns the
    pairs and the image ids of the scenes used.
    """
    from calibclip.datasets.tigr import PairImages, iter_pairs

    index: dict[str, int] = {}
    pairs = []
    for lang in langs:
        for image_id, _, text in iter_pairs(root, lang, split="train"):
            if image_id not in index and max_scenes is not None and len(index) >= max_scenes:
                continue
            i = index.setdefault(image_id, len(index))
            pairs.append((i, text, i))
    images = PairImages(root)
    try:
        sources = [images.source(image_id) for image_id in index]
        return build_pairs(sources, pairs, size, desc="decoding tigr"), list(index)
    finally:
        images.close()


def tigr_recaptioner(root: Path, scenes: list[str], langs: tuple[str, ...],
                     salient_share: float) -> Callable[[np.random.Generator], list[str]]:
    """Captions for every pair of ``tigr_pairs(root, langs, ...)`` (its ``scenes``), same order: each one the
    scene's full description, or with probability ``salient_share`` its main subject only (web style)."""
    from calibclip.datasets.tigr_phrases import caption, salient_caption

    images = read_meta(root / META_FILE)["images"]
    drawn = [images[image_id]["scene"] for image_id in scenes]
    return lambda rng: [salient_caption(scene, rng, lang) if rng.random() < salient_share else caption(scene, lang)
                        for lang in langs for scene in drawn]


def pedes_combination(attributes: dict) -> str:
    """The attribute pair the pedes generator holds out: dominant garment colour + bag colour."""
    return f"{attributes['garment_colour']} garment, {attributes['bag_colour'] or 'no'} bag"


def seen_combinations(pedes_root: Path, tigr_root: Path | None = None,
                      tigr_scenes: list[str] | None = None) -> dict[str, list[str]]:
    """Attribute combinations present in the training data, so evaluation can single out unseen ones.

    Person sets: (garment colour, bag colour) of every training identity. Scene
    sets: the ``<gender>.wear=<colour> <garment>`` facts of the scenes used.
    """
    pedes = read_meta(pedes_root.parent / META_FILE)
    seen = {"pedes": sorted({pedes_combination(p["attributes"]) for p in pedes["identities"]
                             if p["split"] == "train"})}
    if tigr_root is not None:
        images = read_meta(tigr_root / META_FILE)["images"]
        seen["tigr"] = sorted({fact for image_id in tigr_scenes or [] for fact in images[image_id]["facts"]
                               if ".wear=" in fact})
    return seen
