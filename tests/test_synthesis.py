"""Ground-truth stand-ins for the label-synthesis inputs (oracle diagnostics), worked by hand."""

import numpy as np
import torch

from irn_core.synthesis import gt_boundary, gt_class_maps, gt_instance_map


def test_gt_instance_map_samples_cell_centres_and_partitions():
    obj = np.zeros((8, 6), np.uint8)  # stride-4 cells: 2 x 2, centres at (2, 2), (2, 5), (6, 2), (6, 5)
    obj[:4, 3:] = 1
    obj[4:, :] = 255
    obj[6, 2] = 2
    m = gt_instance_map(obj)
    assert m.shape == (4, 2, 2)  # values 0, 1, 2, 255
    assert m.sum(0).eq(1).all()  # a partition
    cells = [[0, 1], [2, 255]]
    values = torch.tensor([0, 1, 2, 255])
    got = (m.long() * values[:, None, None]).sum(0)
    assert got.tolist() == cells


def test_gt_class_maps_are_cell_fractions():
    sem = np.zeros((4, 8), np.uint8)
    sem[:, :2] = 3  # class 2 covers half of cell (0, 0)
    sem[:2, 4:] = 1  # class 0 covers half of cell (0, 1)
    maps = gt_class_maps(sem, np.array([0, 2]))
    assert maps.shape == (2, 1, 2)
    assert maps[0].flatten().tolist() == [0.0, 0.5] and maps[1].flatten().tolist() == [0.5, 0.0]
    assert gt_class_maps(sem, np.array([], int)).shape == (0, 1, 2)


def test_gt_boundary_marks_cells_with_class_edges_or_void():
    sem = np.zeros((8, 12), np.uint8)
    sem[:, 6:] = 1  # a vertical edge between x = 5 and 6: cell column 1
    sem[7, 0] = 255  # void in the bottom-left cell
    b = gt_boundary(sem)
    assert b.tolist() == [[0, 1, 0], [1, 1, 0]]


def test_one_walk_gives_the_separate_walks_labels():
    """Class walk = sum of its instance walks (linear walk, instance maps partition the image):
    the one-walk labels equal the semantic and instance labels walked apart."""
    from irn_core.synthesis import instance_labels, labels_one_walk, semantic_labels

    g = torch.Generator().manual_seed(0)
    h4, w4, size = 9, 11, (34, 43)
    cams = torch.rand((2, h4, w4), generator=g)
    cams[0, :, 6:] *= 0.1  # class 0 on the left, class 2 on the right
    cams[1, :, :5] *= 0.1
    keys = np.array([0, 2])
    boundary = torch.zeros((h4, w4))
    boundary[:, 5] = 0.9
    cells = torch.zeros((h4, w4), dtype=torch.long)
    cells[:, 5:] = 1
    cells[6:, :] = 2
    inst = cells[None] == torch.arange(3)[:, None, None]
    p = {"radius": 3, "beta": 10, "steps": 64}
    (label, score), (masks, classes, scores) = labels_one_walk(cams, keys, boundary, inst, size, p, 0.25, 0.3, 0.01)
    ref_label, ref_score = semantic_labels(cams, keys, boundary, size, p, 0.25)
    ref = instance_labels(cams, keys, boundary, inst, size, p, 0.3, 0.01)
    assert torch.equal(label, ref_label) and {1, 3} <= set(label.unique().tolist())
    assert torch.allclose(score, ref_score, rtol=0, atol=1e-6)  # float32 rounding of the float64 sums
    assert torch.equal(masks, ref[0]) and torch.equal(classes, ref[1]) and len(classes) >= 2
    assert torch.allclose(scores, ref[2], rtol=0, atol=1e-6)
    # no foreground label: no maps, background everywhere
    (label, _), (masks, _, _) = labels_one_walk(cams[:0], keys[:0], boundary, inst, size, p, 0.25, 0.3, 0.01)
    assert label.max() == 0 and masks.shape[0] == 0
