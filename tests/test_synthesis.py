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
