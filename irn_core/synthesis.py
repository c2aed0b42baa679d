"""Label synthesis of one image (METHOD.md 5c, 5d): semantic and instance pseudo labels from
stride-4 CAMs, a boundary map and a class-agnostic instance map; and the ground-truth
counterparts of those inputs, for the oracle diagnostics.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .crf import crf_refine
from .datasets import IGNORE
from .instances import detect_instances, instance_cams, label_with_background
from .propagate import propagate, upsample_normalise


def walk(maps: torch.Tensor, boundary: torch.Tensor, size: tuple[int, int], p: dict) -> torch.Tensor:
    """Random walk of (M, h4, w4) maps on the boundary map (``p``: radius, beta, steps), upsampled
    x4 to the image ``size`` and divided by the global maximum: (M, H, W)."""
    return upsample_normalise(propagate(maps, boundary, p["radius"], p["beta"], p["steps"]), size)


def semantic_labels(
    cams: torch.Tensor, keys: np.ndarray, boundary: torch.Tensor, size: tuple[int, int], p: dict, bg: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(label (H, W) uint8: 0 background, k+1 class k; score (H, W)) of the walked class maps
    against the constant background ``bg``."""
    up = walk(cams, boundary, size, p)
    lut = torch.as_tensor(np.concatenate([[0], np.asarray(keys) + 1]), device=up.device)
    label = lut[label_with_background(up, bg)].to(torch.uint8)
    score = torch.cat([up.new_full((1,) + up.shape[1:], bg), up]).amax(0)
    return label, score


def instance_labels(
    cams: torch.Tensor,
    keys: np.ndarray,
    boundary: torch.Tensor,
    inst: torch.Tensor,
    size: tuple[int, int],
    p: dict,
    bg: float,
    min_fraction: float,
):
    """(masks (N, H, W), classes (N,), scores (N,)): every class map split by the class-agnostic
    instance map ``inst`` (K, h4, w4), walked, labelled against ``bg``, cut into components."""
    up = walk(instance_cams(cams, inst), boundary, size, p)
    label = label_with_background(up, bg)
    classes = torch.as_tensor(np.asarray(keys), device=up.device).repeat_interleave(inst.shape[0])
    return detect_instances(up, label, classes, min_fraction)


def walk_instances(cams: torch.Tensor, keys: np.ndarray, boundary: torch.Tensor, inst: torch.Tensor, p: dict):
    """The random walk of one image, before any background threshold: (instance walks (K * J, h4,
    w4), class-major, and class walks (K, h4, w4)), both float32, stride 4.

    The instance maps M_c * I_k of a class sum to M_c (the instance map ``inst`` (J, h4, w4)
    partitions the image) and the walk is linear, so the walk of a class map is the sum of the
    walks of its instance maps: one sparse transition matrix and one walk of the K x J instance
    maps serve both (summed in float64, as the walk accumulates; float32 is what the labels read)."""
    k, j = len(keys), inst.shape[0]
    rw = propagate(instance_cams(cams, inst), boundary, p["radius"], p["beta"], p["steps"], out_dtype=torch.float64)
    return rw.to(cams.dtype), rw.reshape(k, j, *rw.shape[1:]).sum(1).to(cams.dtype)


def label_semantic(up: torch.Tensor, keys: np.ndarray, bg: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(label (H, W) uint8: 0 background, k+1 class k; score (H, W)) of upsampled class walks
    (K, H, W) against the constant background ``bg``."""
    lut = torch.as_tensor(np.concatenate([[0], np.asarray(keys) + 1]), device=up.device)
    label = lut[label_with_background(up, bg)].to(torch.uint8)
    return label, semantic_score(up, bg)


def semantic_score(up: torch.Tensor, bg: float) -> torch.Tensor:
    """The semantic labels' score (H, W): the upsampled class walks' (K, H, W) peak against the
    constant background ``bg``."""
    return torch.cat([up.new_full((1,) + up.shape[1:], bg), up]).amax(0)


def label_instances(up: torch.Tensor, classes: np.ndarray, bg: float, min_fraction: float):
    """(masks (N, H, W), classes (N,), scores (N,)) of upsampled instance walks (M, H, W) of classes
    ``classes`` (M,), labelled against ``bg`` and cut into components."""
    classes = torch.as_tensor(np.asarray(classes), device=up.device)
    return detect_instances(up, label_with_background(up, bg), classes, min_fraction)


def semantic_from_walk(sem_walk: torch.Tensor, keys: np.ndarray, size: tuple[int, int], bg: float):
    """The semantic label and score (:func:`label_semantic`) of the class walks (K, h4, w4) of an
    image of ``size``."""
    return label_semantic(upsample_normalise(sem_walk, size), keys, bg)


def instances_from_walk(
    ins_walk: torch.Tensor, classes: np.ndarray, size: tuple[int, int], bg: float, min_fraction: float
):
    """The instances (:func:`label_instances`) of the instance walks (M, h4, w4) of an image of ``size``."""
    return label_instances(upsample_normalise(ins_walk, size), classes, bg, min_fraction)


def crf_semantic(image: np.ndarray, label: np.ndarray) -> np.ndarray:
    """A semantic label (H, W) refined on its (H, W, 3) uint8 image by the dense CRF the relations
    are mined with (:func:`irn_core.crf.crf_refine`, the public settings), over the labels it holds;
    a label with one value is returned as it is."""
    present = np.unique(label)
    if len(present) < 2:
        return label
    return present[crf_refine(image, np.searchsorted(present, label), len(present))].astype(label.dtype)


def crf_instances(
    image: np.ndarray, masks: np.ndarray, classes: np.ndarray, scores: np.ndarray, min_kept: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint instance masks (N, H, W) refined by the dense CRF (:func:`crf_outlines`), those it
    takes most of kept from the walk (:func:`keep_taken`, ``min_kept``: ``labels.crf_min_kept``);
    an instance left no pixel is dropped with its class and score."""
    masks = np.asarray(masks, bool)
    if not len(masks):
        return masks, np.asarray(classes), np.asarray(scores)
    refined = keep_taken(masks, crf_outlines(image, masks), min_kept)
    keep = refined.any((1, 2))
    return refined[keep], np.asarray(classes)[keep], np.asarray(scores)[keep]


def crf_outlines(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Disjoint instance masks (N >= 1, H, W) refined as one label map (background and the N
    instances) by the same dense CRF as :func:`crf_semantic`: (N, H, W) bool, one per instance, in
    order, empty where the CRF left it no pixel."""
    ids = np.zeros(masks.shape[1:], np.int64)
    for i, m in enumerate(masks, start=1):
        ids[m] = i
    return crf_refine(image, ids, len(masks) + 1)[None] == np.arange(1, len(masks) + 1)[:, None, None]


def keep_taken(masks: np.ndarray, refined: np.ndarray, min_kept: float) -> np.ndarray:
    """The refined masks, where one holds less than ``min_kept`` of its mask's pixels the mask as
    given instead, less the pixels the other refined masks hold; 0: ``refined`` as it is."""
    restore = refined.sum((1, 2)) < min_kept * masks.sum((1, 2))
    if not restore.any():
        return refined
    out = refined.copy()
    out[restore] = masks[restore] & ~refined[~restore].any(0)
    return out


def crf_labels(
    image: np.ndarray, label: np.ndarray, masks: np.ndarray, classes: np.ndarray, scores: np.ndarray, min_kept: float
):
    """Both kinds of an image's pseudo labels refined on it (``labels.crf``): (semantic label, masks,
    classes, scores) by :func:`crf_semantic` and :func:`crf_instances` (``labels.crf_min_kept``)."""
    return (crf_semantic(image, label), *crf_instances(image, masks, classes, scores, min_kept))


def labels_one_walk(
    cams: torch.Tensor,
    keys: np.ndarray,
    boundary: torch.Tensor,
    inst: torch.Tensor,
    size: tuple[int, int],
    p: dict,
    sem_bg: float,
    ins_bg: float,
    min_fraction: float,
):
    """Semantic and instance pseudo labels from one walk (:func:`walk_instances`): (semantic
    (label, score), instances (masks, classes, scores)), equal to :func:`semantic_labels` and
    :func:`instance_labels`."""
    ins_walk, sem_walk = walk_instances(cams, keys, boundary, inst, p)
    classes = np.asarray(keys).repeat(inst.shape[0])
    return (
        semantic_from_walk(sem_walk, keys, size, sem_bg),
        instances_from_walk(ins_walk, classes, size, ins_bg, min_fraction),
    )


def stride4_cells(shape: tuple[int, int]) -> tuple[int, int]:
    return (shape[0] + 3) // 4, (shape[1] + 3) // 4


def gt_instance_map(objects: np.ndarray) -> torch.Tensor:
    """Class-agnostic instance map from a SegmentationObject map (H, W): the value at the centre
    of each stride-4 cell; one mask per value (background, void and each object), a partition."""
    h4, w4 = stride4_cells(objects.shape)
    ys = np.minimum(np.arange(h4) * 4 + 2, objects.shape[0] - 1)
    xs = np.minimum(np.arange(w4) * 4 + 2, objects.shape[1] - 1)
    cells = torch.from_numpy(objects[np.ix_(ys, xs)].astype(np.int64))
    values = torch.unique(cells)
    return cells[None] == values[:, None, None]


def gt_class_maps(semantic: np.ndarray, keys: np.ndarray) -> torch.Tensor:
    """Ground-truth stand-ins for the CAMs: the fraction of each stride-4 cell covered by each key
    class of the SegmentationClass map: (K, h4, w4) in [0, 1]."""
    h4, w4 = stride4_cells(semantic.shape)
    sem = torch.from_numpy(semantic.astype(np.int64))
    masks = (
        torch.stack([(sem == k + 1).float() for k in np.asarray(keys)])
        if len(keys)
        else torch.zeros((0,) + semantic.shape)
    )
    padded = F.pad(masks, (0, w4 * 4 - semantic.shape[1], 0, h4 * 4 - semantic.shape[0]))
    return F.avg_pool2d(padded[None], 4)[0] if len(keys) else torch.zeros((0, h4, w4))


def gt_boundary(semantic: np.ndarray) -> torch.Tensor:
    """Ground-truth boundary map (h4, w4) in {0, 1}: 1 in every stride-4 cell holding a pixel
    whose class differs from its right or lower neighbour, or a void pixel."""
    sem = semantic.astype(np.int64)
    edge = sem == IGNORE
    edge[:, :-1] |= sem[:, :-1] != sem[:, 1:]
    edge[:-1, :] |= sem[:-1, :] != sem[1:, :]
    h4, w4 = stride4_cells(sem.shape)
    t = F.pad(torch.from_numpy(edge).float(), (0, w4 * 4 - sem.shape[1], 0, h4 * 4 - sem.shape[0]))
    return F.max_pool2d(t[None, None], 4)[0, 0]
