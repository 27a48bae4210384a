"""A comparable relevance score, so that "nothing matches" can be an answer (``--min-score``).

A raw cosine similarity is not comparable across images or models: CLIP gives
some images high similarity to almost any text. So each image is measured
against itself: how much better does the query describe it than a fixed bank
of unrelated reference captions (people, animals, objects, scenes) does?

    match(q, i) = (s(q, i) − mean_r s(r, i)) / std_r s(r, i)

a z-score in units of "reference-caption spreads". The indexer stores each image's mean and std
(they depend on the image alone), so a search computes nothing extra. It depends on neither the
folder (an image's statistics use only that image) nor the other results, so a
cutoff S means the same thing in every search: ``match ≥ S`` keeps the images
the query describes at least S spreads better than a random caption would.
Pick S on your own folder: search for something you know is there and for
something you know is not, with ``--json``, and put S between their best
``match`` values (the guide, docs/guides/search-your-photos.md, shows one run).
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

REFERENCE_CAPTIONS: tuple[str, ...] = (
    # people, in the style of person-retrieval captions
    "a man wearing a black coat and blue jeans", "a woman in a red dress", "a man in a white shirt and black trousers",
    "a woman wearing a green coat with a handbag", "a young man in a blue t-shirt and shorts",
    "a woman with long blonde hair wearing a white top", "a man with a backpack and a grey cap",
    "a woman in a yellow sweater and a black skirt", "a man wearing glasses and a brown jacket",
    "a woman carrying a shoulder bag and wearing black shoes", "a person holding an umbrella",
    "a man in an orange top and grey pants", "a woman wearing a purple coat and a beanie",
    "a pedestrian walking with a red backpack", "a man in a striped shirt", "a woman in a long blue dress",
    "a child playing in a park", "two people talking on a street", "a group of friends smiling",
    "a woman riding a bicycle", "a man running on a track", "an old man sitting on a bench",
    # animals
    "a dog lying on the grass", "a cat sleeping on a sofa", "a horse in a field", "a bird on a branch",
    "a fish in an aquarium", "a cow standing in a meadow", "a squirrel on a tree", "a duck on a pond",
    # objects
    "a red car parked on the street", "a bicycle leaning against a wall", "a cup of coffee on a table",
    "a laptop on a desk", "a bowl of fruit", "a pair of shoes", "a stack of books", "a wooden chair",
    "a vase of flowers", "a plate of food", "a clock on the wall", "a bottle of water",
    # scenes
    "a mountain landscape with snow", "a beach with blue water", "a city skyline at night", "a forest path",
    "a kitchen interior", "a busy market", "a road in the countryside", "a sunset over the sea",
    "a living room with a television", "an empty parking lot", "a bridge over a river", "a snowy street",
    # textures and graphics
    "a plain grey background", "a blurry photo", "a black and white pattern", "a screenshot of text",
    "a drawing of a house", "a colourful abstract painting", "a close-up of leaves", "a brick wall",
)


def reference_hash() -> str:
    """SHA-256 of the reference captions: an index's stored statistics are valid while it matches."""
    return hashlib.sha256("\n".join(REFERENCE_CAPTIONS).encode()).hexdigest()


def reference_statistics(reference: torch.Tensor, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per image, mean and std of its similarity to the (R, D) reference caption embeddings → (N,), (N,)."""
    sims = (reference.float() @ images.float().T).numpy().astype(np.float64)
    return sims.mean(axis=0), np.maximum(sims.std(axis=0), 1e-6)


def match_scores(similarity: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """The relevance z-score of each (query, image) similarity (see module docstring)."""
    return ((np.asarray(similarity, dtype=np.float64) - mean) / std).astype(np.float32)


__all__ = ["REFERENCE_CAPTIONS", "reference_hash", "reference_statistics", "match_scores"]
