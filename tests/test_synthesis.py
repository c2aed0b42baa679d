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


def test_crf_snaps_labels_to_colour_edges():
    """``labels.crf``. Semantic: a 40x40 image, black left half, white right half; class 3 labelled
    on the 24 left columns, 4 of them over the white half. The bilateral kernel (srgb 5) ties the
    4 white columns to the 16 white background ones: the refined label is class 3 on exactly the
    black half, dtype kept. Instances on a grey image: a red 12x12 square labelled 2 px too wide
    on every side comes back as the square; a blue one labelled exactly stays; a 2x2 instance on
    the grey background is emptied and dropped with its class and score."""
    from irn_core.synthesis import crf_instances, crf_semantic

    img = np.zeros((40, 40, 3), np.uint8)
    img[:, 20:] = 255
    label = np.zeros((40, 40), np.uint8)
    label[:, :24] = 3
    expect = np.zeros((40, 40), np.uint8)
    expect[:, :20] = 3
    out = crf_semantic(img, label)
    assert out.dtype == np.uint8 and np.array_equal(out, expect)
    assert np.array_equal(crf_semantic(img, expect * 0), expect * 0)  # one label: as it is

    img = np.full((48, 48, 3), 128, np.uint8)
    img[8:20, 8:20] = (200, 30, 30)
    img[28:40, 26:42] = (30, 30, 200)
    masks = np.zeros((3, 48, 48), bool)
    masks[0, 6:22, 6:22] = True
    masks[1, 28:40, 26:42] = True
    masks[2, 2:4, 44:46] = True
    out, classes, scores = crf_instances(img, masks, np.array([0, 1, 2]), np.array([0.9, 0.8, 0.7], np.float32))
    red = np.zeros((48, 48), bool)
    red[8:20, 8:20] = True
    assert len(out) == 2 and np.array_equal(out[0], red) and np.array_equal(out[1], masks[1])
    assert classes.tolist() == [0, 1] and np.allclose(scores, [0.9, 0.8])


def test_crf_min_kept_keeps_the_walks_mask_of_what_the_crf_takes_most_of():
    """``labels.crf_min_kept``. On the grey image of the test above, the red square's 16x16 mask
    keeps 144 of its 256 pixels under the CRF (0.5625): at 0.5 it is the square, at 0.6 its mask as
    given; the 2x2 instance the CRF empties (0 of 4) comes back at 0.5, and not at 0 (the CRF's
    outline always). Two instances on the red square, A on its 9 left columns (8-16), B on its 3
    right ones (17-19) and 2 grey columns (20-21): the CRF gives A the whole square and B nothing,
    so at 0.5 B keeps its mask less A's refined pixels, the 2 grey columns (12 x 2 px)."""
    from irn_core.synthesis import crf_instances, crf_labels

    img = np.full((48, 48, 3), 128, np.uint8)
    img[8:20, 8:20] = (200, 30, 30)
    img[28:40, 26:42] = (30, 30, 200)
    red = np.zeros((48, 48), bool)
    red[8:20, 8:20] = True
    masks = np.zeros((3, 48, 48), bool)
    masks[0, 6:22, 6:22] = True
    masks[1, 28:40, 26:42] = True
    masks[2, 2:4, 44:46] = True
    classes, scores = np.array([0, 1, 2]), np.array([0.9, 0.8, 0.7], np.float32)
    out, cls, sc = crf_instances(img, masks, classes, scores, 0.5)
    assert len(out) == 3 and np.array_equal(out[0], red) and np.array_equal(out[1:], masks[1:])
    assert cls.tolist() == [0, 1, 2] and np.allclose(sc, scores)
    out, cls, _ = crf_instances(img, masks, classes, scores, 0.6)
    assert np.array_equal(out, masks) and cls.tolist() == [0, 1, 2]
    assert len(crf_instances(img, masks, classes, scores, 0.0)[0]) == 2  # emptied, dropped
    pair = np.zeros((2, 48, 48), bool)
    pair[0, 8:20, 8:17] = True
    pair[1, 8:20, 17:22] = True
    out, cls, _ = crf_instances(img, pair, np.array([3, 3]), np.array([0.9, 0.8]), 0.0)
    assert len(out) == 1 and np.array_equal(out[0], red)
    label = np.zeros((48, 48), np.uint8)
    _, out, cls, _ = crf_labels(img, label, pair, np.array([3, 3]), np.array([0.9, 0.8]), 0.5)
    grey = np.zeros((48, 48), bool)
    grey[8:20, 20:22] = True
    assert len(out) == 2 and np.array_equal(out[0], red) and np.array_equal(out[1], grey) and cls.tolist() == [3, 3]
