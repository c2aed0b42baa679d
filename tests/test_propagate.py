import pytest
import torch

from irn_core.propagate import propagate, propagate_dense, transition_matrix, upsample_normalise


def _boundary(h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    b = torch.rand(h, w, generator=g, dtype=torch.float64) * 0.3
    b[:, w // 2] = 0.97  # a wall
    return b


@pytest.mark.parametrize("h,w,m", [(6, 7, 2), (12, 9, 3), (17, 20, 4)])
def test_sparse_equals_dense_reference(h, w, m):
    b = _boundary(h, w)
    maps = torch.rand(m, h, w, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    sparse = propagate(maps, b)
    dense = propagate_dense(maps, b)
    scale = dense.max()
    assert (sparse / scale - dense / scale).abs().max() < 1e-4
    assert (sparse - dense).abs().max() < 1e-10  # float64 on both sides: the same walk


def test_float32_maps_accumulate_in_float64():
    b = _boundary(15, 15).float()
    maps = torch.rand(2, 15, 15, generator=torch.Generator().manual_seed(2))
    out = propagate(maps, b)
    ref = propagate_dense(maps.double(), b.double())
    assert out.dtype == torch.float32
    assert ((out.double() - ref).abs().max() / ref.max()) < 1e-5


def test_transition_matrix_is_sparse_and_stochastic():
    b = _boundary(10, 12)
    r = transition_matrix(b, radius=5)
    n = 120
    assert r.layout == torch.sparse_csr and r.shape == (n, n)
    assert r.values().numel() <= n * 69  # self + 68 neighbours within radius 5
    rows = torch.sparse.sum(r.to_sparse_coo(), 1).to_dense()
    assert torch.allclose(rows, torch.ones(n, dtype=torch.float64))


def test_wall_blocks_the_walk():
    h, w = 8, 11
    b = torch.zeros(h, w, dtype=torch.float64)
    b[:, 5] = 1.0  # impassable wall in column 5
    seed = torch.zeros(1, h, w, dtype=torch.float64)
    seed[0, 4, 1] = 1.0
    out = propagate(seed, b)[0]
    assert out[:, 6:].abs().max() < 1e-12  # nothing crosses
    # each step averages over neighbours: the seed spreads out evenly over its own side
    assert out[:, :5].min() > 0
    assert out[:, :5].std() < 0.05 * out[:, :5].mean()


def test_batched_equals_one_by_one():
    b = _boundary(9, 10)
    maps = torch.rand(3, 9, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    together = propagate(maps, b)
    for k in range(3):
        assert torch.allclose(together[k], propagate(maps[k : k + 1], b)[0])


def test_upsample_normalise():
    rw = torch.rand(2, 5, 6)
    up = upsample_normalise(rw, (19, 22))
    assert up.shape == (2, 19, 22) and up.max() == pytest.approx(1.0)
