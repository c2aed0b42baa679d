import math

import numpy as np
import pytest
import torch

from irn_core.relations import (
    boundary_affinity,
    irn_losses,
    pair_labels,
    path_cells,
    relation_labels,
    search_directions,
    shifted,
)


def test_search_directions_forward_half():
    d = search_directions(5)
    assert len(d) == 34 and len(set(d)) == 34
    assert all(dy > 0 or (dy == 0 and dx > 0) for dy, dx in d)
    assert all(dy * dy + dx * dx < 25 for dy, dx in d)
    # with the backward half and the pixel itself: the full disc
    full = set(d) | {(-a, -b) for a, b in d} | {(0, 0)}
    assert len(full) == sum(1 for y in range(-4, 5) for x in range(-4, 5) if x * x + y * y < 25)


def test_path_cells():
    assert path_cells((0, 3)) == ((0, 0), (0, 1), (0, 2), (0, 3))
    # the diagonal plus the cells at distance 1/sqrt(2) from it; (0, 2) is at sqrt(2)
    assert set(path_cells((2, 2))) == {(0, 0), (1, 1), (2, 2), (0, 1), (1, 0), (1, 2), (2, 1)}
    # (1, -2): |x + 2y| / sqrt(5) < 1 holds for all six cells of the bounding box
    assert set(path_cells((1, -2))) == {(0, 0), (0, -1), (0, -2), (1, 0), (1, -1), (1, -2)}
    # (2, -3): |2x + 3y| / sqrt(13) < 1 leaves out (0, -3), (0, -2), (2, 0) and (2, -1)
    assert set(path_cells((2, -3))) == {(0, 0), (0, -1), (1, -1), (1, -2), (2, -2), (2, -3), (1, 0), (1, -3)}


def test_shifted():
    x = torch.arange(6.0).reshape(2, 3)
    assert shifted(x, 0, 1, -1).tolist() == [[1, 2, -1], [4, 5, -1]]
    assert shifted(x, 1, -1, -1).tolist() == [[-1, 3, 4], [-1, -1, -1]]


def test_boundary_affinity_is_one_minus_path_max():
    b = torch.zeros(1, 5, 6)
    b[0, 2, 3] = 0.8
    aff = boundary_affinity(b, 3)
    dirs = search_directions(3)
    k = dirs.index((0, 2))
    assert aff[0, k, 2, 1] == pytest.approx(0.2)  # (2,1) -> (2,3) passes the boundary pixel
    assert aff[0, k, 1, 1] == pytest.approx(1.0)
    assert aff[0, k, 2, 5] == 0.0  # the other end leaves the map
    k = dirs.index((2, 0))
    assert aff[0, k, 0, 3] == pytest.approx(0.2) and aff[0, k, 3, 3] == 0.0


def test_boundary_affinity_matches_brute_force_values_and_gradient():
    torch.manual_seed(0)
    radius, h, w = 4, 7, 9
    b = torch.rand(2, h, w, requires_grad=True)
    aff = boundary_affinity(b, radius)
    weights = torch.rand(aff.shape)
    (aff * weights).sum().backward()
    grad = torch.zeros(2, h, w)
    for k, (dy, dx) in enumerate(search_directions(radius)):
        for n in range(2):
            for y in range(h):
                for x in range(w):
                    cells = [(y + oy, x + ox) for oy, ox in path_cells((dy, dx))]
                    if not (0 <= y + dy < h and 0 <= x + dx < w):
                        assert aff[n, k, y, x] == 0.0
                        continue
                    vals = [float(b.detach()[n, cy, cx]) for cy, cx in cells]
                    assert aff[n, k, y, x].item() == pytest.approx(1 - max(vals), abs=1e-7)
                    cy, cx = cells[vals.index(max(vals))]
                    grad[n, cy, cx] -= weights[n, k, y, x]
    assert torch.allclose(b.grad, grad, atol=1e-5)


def test_pair_labels():
    lab = torch.tensor([[[0, 0, 1, 255], [2, 2, 1, 1]]])
    bg, fg, neg = pair_labels(lab, 2)
    k = search_directions(2).index((0, 1))
    assert bg[0, k].tolist() == [[True, False, False, False], [False, False, False, False]]
    assert fg[0, k].tolist() == [[False, False, False, False], [True, False, True, False]]
    assert neg[0, k].tolist() == [[False, True, False, False], [False, True, False, False]]
    # pairs with an unsure end or leaving the map are in no set
    assert not (bg | fg | neg)[0, :, 0, 3].any()


def test_relation_labels_combination_without_crf():
    cams = np.zeros((1, 2, 4), np.float32)
    cams[0] = [[0.9, 0.2, 0.01, 0.5], [0.35, 0.04, 0.1, 0.0]]
    lab = relation_labels(np.zeros((2, 4, 3), np.uint8), cams, np.array([2]), 0.30, 0.05, use_crf=False)
    assert lab.tolist() == [[3, 255, 0, 3], [3, 0, 255, 0]]


def test_relation_labels_crf_follows_image_edges():
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, 20:] = 255  # object = right half
    cams = np.zeros((1, 40, 40), np.float32)
    cams[0, :, 14:] = 1.0  # CAM leaks 6 px into the background
    lab = relation_labels(img, cams, np.array([0]), 0.30, 0.05, use_crf=True)
    assert (lab[:, 22:] == 1).mean() > 0.95
    assert (lab[:, :12] == 0).mean() > 0.95
    assert (lab[:, 15:19] == 1).mean() < 0.5  # the CRF pulls the leak back to the edge


def test_irn_losses_zero_for_perfect_outputs():
    h, w = 8, 8
    lab = torch.zeros(1, h, w, dtype=torch.long)
    lab[0, 2:6, 2:6] = 1
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    disp = torch.zeros(1, 2, h, w)
    inside = lab[0] == 1
    disp[0, 0][inside] = (3.5 - ys)[inside]
    disp[0, 1][inside] = (3.5 - xs)[inside]
    edge = torch.full((1, 1, h, w), -20.0)  # no boundary anywhere
    losses = irn_losses(edge, disp, lab, radius=3)
    assert losses["dp_fg"] < 1e-5 and losses["dp_bg"] < 1e-5
    assert losses["edge_pos_fg"] < 1e-3 and losses["edge_pos_bg"] < 1e-3
    assert losses["edge_neg"] > 5  # no boundary between object and background: penalised
    edge[0, 0][2:6, 2:6] = 20.0  # boundary in the object's interior too (crossed by every fg-bg pair)
    assert irn_losses(edge, disp, lab, radius=3)["edge_neg"] < 1e-3


def test_irn_losses_match_a_loop_over_pairs():
    torch.manual_seed(0)
    radius, h, w = 3, 5, 6
    edge = torch.randn(1, 1, h, w)
    disp = torch.randn(1, 2, h, w)
    lab = torch.randint(0, 3, (1, h, w))
    lab[0, 0, :2] = 255
    b = torch.sigmoid(edge[0, 0])
    sums = {k: [0.0, 0] for k in ("bg", "fg", "neg", "dp_fg", "dp_bg")}
    for dy, dx in search_directions(radius):
        for y in range(h):
            for x in range(w):
                y2, x2 = y + dy, x + dx
                if not (0 <= y2 < h and 0 <= x2 < w) or 255 in (int(lab[0, y, x]), int(lab[0, y2, x2])):
                    continue
                a = 1 - max(float(b[y + oy, x + ox]) for oy, ox in path_cells((dy, dx)))
                d = disp[0, :, y, x] - disp[0, :, y2, x2]
                same, src = int(lab[0, y, x]) == int(lab[0, y2, x2]), int(lab[0, y, x])
                kind = "neg" if not same else ("bg" if src == 0 else "fg")
                sums[kind][0] += -math.log(1 + 1e-5 - a) if kind == "neg" else -math.log(a + 1e-5)
                sums[kind][1] += 1
                if kind == "fg":
                    sums["dp_fg"][0] += float((d - torch.tensor([dy, dx])).abs().mean())
                    sums["dp_fg"][1] += 1
                elif kind == "bg":
                    sums["dp_bg"][0] += float(d.abs().mean())
                    sums["dp_bg"][1] += 1
    mean = {k: s / (n + 1e-5) for k, (s, n) in sums.items()}
    losses = irn_losses(edge, disp, lab, radius)
    for key, name in (
        ("bg", "edge_pos_bg"),
        ("fg", "edge_pos_fg"),
        ("neg", "edge_neg"),
        ("dp_fg", "dp_fg"),
        ("dp_bg", "dp_bg"),
    ):
        assert float(losses[name]) == pytest.approx(mean[key], rel=1e-4), name
    assert float(losses["total"]) == pytest.approx(
        (mean["bg"] + mean["fg"]) / 4 + mean["neg"] / 2 + (mean["dp_fg"] + mean["dp_bg"]) / 2, rel=1e-4
    )
