import numpy as np
import pytest

from calibclip.calibration.rerank import first_stage_order, fuse_top_k, rerank, rerank_candidates
from calibclip.errors import ConfigError

S_ORIG = np.array([[0.9, 0.1, 0.5, 0.7, 0.3, 0.2]])
S_DISC = np.array([[0.1, 0.9, 0.9, 0.5, 0.8, 0.0]])


def naive_ranking(s_orig: np.ndarray, s_disc: np.ndarray, k: int, lam: float) -> list[int]:
    """Reference: sort the top-K of one row by the fused score, append the rest in stage-1 order."""
    stage1 = sorted(range(len(s_orig)), key=lambda i: (-s_orig[i], i))
    top, rest = stage1[:k], stage1[k:]
    fused = {i: (1 - lam) * s_orig[i] + lam * s_disc[i] for i in top}
    return sorted(top, key=lambda i: (-fused[i], i)) + rest


def test_hand_computed_1x6_only_top_k_reordered():
    # stage 1: 0 (.9), 3 (.7), 2 (.5) | 4 (.3), 5 (.2), 1 (.1); fused top-3: 0 → .5, 3 → .6, 2 → .7
    final = rerank(S_ORIG, S_DISC, k=3, lam=0.5)
    np.testing.assert_allclose(final, [[0.5, 0.1, 0.7, 0.6, 0.3, 0.2]])
    assert first_stage_order(final)[0].tolist() == [2, 3, 0, 4, 5, 1]


def test_items_below_k_are_shifted_under_the_top_k_and_keep_order():
    # λ = 1: fused top-3 are 0 → .1, 3 → .5, 2 → .9, so item 4 (.3) and 5 (.2) must be pushed under .1
    final = rerank(S_ORIG, S_DISC, k=3, lam=1.0)
    assert first_stage_order(final)[0].tolist() == [2, 3, 0, 4, 5, 1]
    np.testing.assert_allclose(final[0, [2, 3, 0]], [0.9, 0.5, 0.1])
    below = final[0, [4, 5, 1]]
    assert below.max() < 0.1
    np.testing.assert_allclose(np.diff(below), [-0.1, -0.1])  # s_orig gaps preserved


def test_lambda_zero_is_exactly_the_first_stage():
    rng = np.random.default_rng(3)
    s_orig = np.round(rng.random((7, 53)), 2).astype(np.float32)  # rounding makes ties
    s_disc = rng.random((7, 53)).astype(np.float32)
    final = rerank(s_orig, s_disc, k=11, lam=0.0)
    np.testing.assert_array_equal(final, s_orig)
    np.testing.assert_array_equal(first_stage_order(final), first_stage_order(s_orig))


@pytest.mark.parametrize("k,lam", [(1, 0.5), (5, 0.3), (17, 0.7), (29, 1.0), (40, 0.5)])
def test_matches_naive_reference_with_ties(k, lam):
    rng = np.random.default_rng(k)
    s_orig = np.round(rng.random((9, 29)), 1)
    s_disc = np.round(rng.random((9, 29)), 1)
    order = first_stage_order(rerank(s_orig, s_disc, k, lam))
    for row in range(9):
        assert order[row].tolist() == naive_ranking(s_orig[row], s_disc[row], k, lam)


def test_k_covering_the_gallery_fuses_everything():
    final = rerank(S_ORIG, S_DISC, k=100, lam=0.25)
    np.testing.assert_allclose(final, 0.75 * S_ORIG + 0.25 * S_DISC)


@pytest.mark.parametrize("k,lam,word", [(0, 0.5, "rerank_k"), (3, 1.5, "lam"), (3, "0.5", "lam"), (2.5, 0.5, "rerank_k")])
def test_bad_knobs_name_themselves(k, lam, word):
    with pytest.raises(ConfigError, match=word):
        rerank(S_ORIG, S_DISC, k=k, lam=lam)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="one shape"):
        rerank(S_ORIG, S_DISC[:, :5], k=3, lam=0.5)


@pytest.mark.parametrize("magnitude", [1e-6, 1e-3, 0.3, 0.999])
def test_float32_neighbours_below_k_keep_their_exact_order(magnitude):
    # stage 1: two top items, then three float32 neighbours with the larger value at the HIGHER index,
    # so any tie created by the shift would put them in the wrong (lower index first) order
    x = np.float32(magnitude)
    up, down = np.nextafter(x, np.float32(2)), np.nextafter(x, np.float32(-2))
    s_orig = np.array([[2.0, 1.5, down, x, up]], dtype=np.float32)
    s_disc = np.array([[-1.0, -1.0, 0.0, 0.0, 0.0]], dtype=np.float32)  # λ = 1 drives the top 2 under the rest
    final = rerank(s_orig, s_disc, k=2, lam=1.0)
    assert final.dtype == np.float64
    assert first_stage_order(final)[0].tolist() == [0, 1, 4, 3, 2]
    assert first_stage_order(final)[0].tolist() == naive_ranking(s_orig[0], s_disc[0], 2, 1.0)


def test_fuse_top_k_needs_s_disc_on_the_top_k_only():
    rng = np.random.default_rng(5)
    s_orig = np.round(rng.random((6, 41)), 2).astype(np.float32)
    s_disc = rng.random((6, 41)).astype(np.float32)
    candidates = rerank_candidates(s_orig, 9)
    assert candidates.shape == (6, 10)
    fused = fuse_top_k(s_orig, candidates, np.take_along_axis(s_disc, candidates[:, :9], axis=1), 9, 0.4)
    np.testing.assert_array_equal(fused, rerank(s_orig, s_disc, 9, 0.4))
