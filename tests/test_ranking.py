"""Exact top-k selection against a naive full stable sort, with ties, odd sizes and every precision."""
import numpy as np
import pytest

from calibclip.ranking import full_order, top_k


def _naive(row):
    return sorted(range(len(row)), key=lambda j: (-row[j], j))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (13, 101), (5, 1000)])
def test_top_k_is_the_prefix_of_the_naive_stable_order(dtype, shape):
    rng = np.random.default_rng(shape[1])
    scores = rng.integers(0, 5, size=shape).astype(dtype)  # few distinct values: ties cut at every k
    naive = [_naive(row.tolist()) for row in scores]
    assert full_order(scores).tolist() == naive
    for k in sorted({1, 2, 3, shape[1] // 2 + 1, shape[1] - 1, shape[1], shape[1] + 5} - {0}):
        assert top_k(scores, k).tolist() == [row[:k] for row in naive], k


def test_top_k_keeps_float_neighbours_apart_and_reads_a_single_row():
    base = np.float32(0.3)
    row = np.array([base, np.nextafter(base, np.float32(1)), base, np.nextafter(base, np.float32(0))], np.float32)
    assert top_k(row, 2).tolist() == [1, 0]
    assert top_k(row, 3).tolist() == [1, 0, 2]
    with pytest.raises(ValueError, match="k must be at least 1"):
        top_k(row, 0)
