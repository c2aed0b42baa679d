import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from irn_core.instances import (
    _components_torch,
    connected_components,
    detect_instances,
    find_centroids,
    instance_cams,
    instance_map,
    label_with_background,
)


def _field_to(h, w, centres, split_col):
    """Displacement pointing every pixel at the centre of its half (left/right of split_col)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.zeros((2, h, w), np.float32)
    for (cy, cx), sel in zip(centres, (xs < split_col, xs >= split_col)):
        d[0][sel] = (cy - ys)[sel]
        d[1][sel] = (cx - xs)[sel]
    return torch.from_numpy(d)


def test_centroids_converge_to_targets():
    d = _field_to(10, 16, [(4.0, 3.0), (6.0, 12.0)], 8)
    c = find_centroids(d, iterations=50)
    assert (c[:, :, :8] == torch.tensor([4, 3])[:, None, None]).all()
    assert (c[:, :, 8:] == torch.tensor([6, 12])[:, None, None]).all()


def test_centroid_bilinear_step_and_clamp():
    d = torch.zeros(2, 3, 3)
    d[1, 0, 0] = 0.5  # first pixel moves half a pixel right, then reads D between (0,0) and (0,1)
    d[1, 0, 1] = -10.0  # ...which pulls it left, out of the map: clamped to 0
    c = find_centroids(d, iterations=2)
    assert c[:, 0, 0].tolist() == [0, 0]
    assert c[:, 0, 1].tolist() == [0, 0]


def test_instance_map_two_objects_and_outliers():
    d = _field_to(10, 16, [(4.0, 3.0), (6.0, 12.0)], 8)
    inst = instance_map(d, iterations=60)
    assert inst.shape == (2, 10, 16)
    assert inst.sum(0).eq(1).all()  # a partition
    assert inst[0, :, :8].all() and inst[1, :, 8:].all()
    # a field that points out of every low-|D| region: those pixels share one extra id
    d2 = d.clone()
    d2[:, 0, 15] = torch.tensor([0.0, 0.0])  # isolated converged pixel: its own region
    assert instance_map(d2, iterations=60).shape[0] == 3


@pytest.mark.parametrize("seed", range(5))
def test_connected_components_match_scipy(seed):
    m = np.random.default_rng(seed).random((3, 23, 31)) < 0.55
    ours = connected_components(torch.from_numpy(m)).numpy()
    on_device_path = _components_torch(torch.from_numpy(m)).numpy()
    for i in range(3):
        ref, _ = ndi.label(m[i])
        assert np.array_equal(ours[i], ref)
        assert np.array_equal(on_device_path[i], ref)


def test_instance_cams_class_major():
    cams = torch.arange(2 * 2 * 3, dtype=torch.float32).reshape(2, 2, 3)
    masks = torch.tensor([[[1, 1, 0], [0, 0, 0]], [[0, 0, 1], [1, 1, 1]]], dtype=torch.bool)
    out = instance_cams(cams, masks)
    assert out.shape == (4, 2, 3)
    assert torch.equal(out[1], cams[0] * masks[1]) and torch.equal(out[2], cams[1] * masks[0])


def test_label_with_background():
    s = torch.tensor([[[0.1, 0.5]], [[0.3, 0.2]]])
    assert label_with_background(s, 0.25).tolist() == [[2, 1]]


def test_detect_instances_components_scores_and_min_fraction():
    h, w = 10, 10
    label = torch.zeros(h, w, dtype=torch.long)
    label[0:4, 0:4] = 1  # map 0, one component
    label[6:10, 6:10] = 1  # map 0, a second component
    label[0, 9] = 2  # map 1: one pixel = 1% of the image -> kept at min_fraction 0.01
    label[9, 0] = 2
    scores = torch.zeros(2, h, w)
    scores[0, 1, 1] = 0.9
    scores[0, 7, 7] = 0.4
    scores[1, 0, 9] = 0.7
    scores[1, 9, 0] = 0.6
    masks, classes, sc = detect_instances(scores, label, torch.tensor([3, 1]), min_fraction=0.01)
    assert masks.shape == (4, h, w) and classes.tolist() == [3, 3, 1, 1]
    assert sc.tolist() == pytest.approx([0.9, 0.4, 0.7, 0.6])
    _, _, sc = detect_instances(scores, label, torch.tensor([3, 1]), min_fraction=0.02)
    assert sc.tolist() == pytest.approx([0.9, 0.4, 0.0, 0.0])  # small fragments get score 0
    empty = detect_instances(scores, torch.zeros(h, w, dtype=torch.long), torch.tensor([3, 1]))
    assert empty[0].shape == (0, h, w)


def _public_centroids(disp: np.ndarray, iterations: int) -> np.ndarray:
    """The public implementation's centroid search (numpy, ceil/floor bilinear), for reference."""
    h, w = disp.shape[1:]
    cy = np.repeat(np.arange(h)[:, None], w, 1).astype(np.float32)
    cx = np.repeat(np.arange(w)[None], h, 0).astype(np.float32)
    for _ in range(iterations):
        uy, dy = np.ceil(cy).astype(int), np.floor(cy).astype(int)
        ux, dx = np.ceil(cx).astype(int), np.floor(cx).astype(int)
        yc, xc = cy - dy, cx - dx
        step = [
            d[uy, ux] * yc * xc
            + d[dy, ux] * (1 - yc) * xc
            + d[uy, dx] * yc * (1 - xc)
            + d[dy, dx] * (1 - yc) * (1 - xc)
            for d in disp
        ]
        cy = np.clip(cy + step[0], 0, h - 1)
        cx = np.clip(cx + step[1], 0, w - 1)
    return np.stack([np.round(cy), np.round(cx)]).astype(int)


def test_centroids_match_public_reference():
    g = torch.Generator().manual_seed(0)
    d = _field_to(14, 18, [(5.0, 4.0), (9.0, 13.0)], 9) + 0.3 * torch.randn(2, 14, 18, generator=g)
    ours = find_centroids(d, iterations=40).numpy()
    ref = _public_centroids(d.numpy(), 40)
    assert (ours == ref).mean() > 0.99  # float rounding may flip a point sitting on .5
