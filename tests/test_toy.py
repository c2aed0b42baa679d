import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from irn_core.toy import (
    TOY_CLASSES,
    ToySettings,
    _place,
    _shape_mask,
    touch_distance,
    touching_same_class,
    write_toy_dataset,
)
from irn_core.voc import VOCDataset, read_split


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_deterministic_from_seed(tmp_path):
    s = ToySettings(n_train=6, n_val=2, seed=11)
    write_toy_dataset(tmp_path / "a", s)
    write_toy_dataset(tmp_path / "b", s)
    write_toy_dataset(tmp_path / "c", ToySettings(n_train=6, n_val=2, seed=12))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_voc_layout_and_ids(toy_root):
    for sub in ("JPEGImages", "Annotations", "SegmentationClass", "SegmentationObject"):
        assert len(list((toy_root / sub).iterdir())) == 50
    train = read_split(toy_root / "ImageSets/Segmentation/train.txt")
    val = read_split(toy_root / "ImageSets/Segmentation/val.txt")
    assert len(train) == 40 and len(val) == 10 and not set(train) & set(val)
    for i in train + val:
        year, num = i.split("_")
        assert len(year) == 4 and len(num) == 6 and year.isdigit() and num.isdigit()


def test_content_properties(toy_root):
    voc = VOCDataset(toy_root, TOY_CLASSES)
    ids = read_split(toy_root / "ImageSets/Segmentation/train.txt") + read_split(
        toy_root / "ImageSets/Segmentation/val.txt"
    )
    counts, touching, sizes, classes_seen, areas = [], 0, set(), set(), []
    for i in ids:
        masks, classes, _ = voc.instance_gt(i)
        sem = voc.semantic_gt(i)
        inst = np.zeros(sem.shape, np.int64)
        for k, m in enumerate(masks, start=1):
            inst[m] = k
        counts.append(len(masks))
        touching += touching_same_class(inst, sem)
        sizes.add(sem.shape)
        classes_seen.update(classes.tolist())
        areas += [m.sum() for m in masks]
    assert min(counts) >= 1 and max(counts) <= 6
    assert touching / len(ids) >= 0.30
    assert len(classes_seen) == len(TOY_CLASSES) >= 4
    assert len(sizes) > 5  # image sizes vary
    assert max(areas) > 4 * min(areas)  # object sizes vary


def test_colour_does_not_identify_the_class(toy_root):
    """Mean object colour predicts the class no better than chance + a margin."""
    voc = VOCDataset(toy_root, TOY_CLASSES)
    feats, labels = [], []
    for i in read_split(toy_root / "ImageSets/Segmentation/train.txt"):
        img = voc.load_image(i).astype(np.float32)
        masks, classes, _ = voc.instance_gt(i)
        for m, c in zip(masks, classes):
            feats.append(img[m].mean(0))
            labels.append(c)
    feats, labels = np.array(feats), np.array(labels)
    # leave-one-out nearest class-mean colour classifier
    correct = 0
    for k in range(len(labels)):
        keep = np.arange(len(labels)) != k
        means = np.array(
            [
                feats[keep & (labels == c)].mean(0) if (keep & (labels == c)).any() else np.full(3, 1e9)
                for c in range(len(TOY_CLASSES))
            ]
        )
        correct += np.argmin(((means - feats[k]) ** 2).sum(1)) == labels[k]
    assert correct / len(labels) < 1 / len(TOY_CLASSES) + 0.2


def test_background_is_textured(toy_root):
    voc = VOCDataset(toy_root, TOY_CLASSES)
    i = read_split(toy_root / "ImageSets/Segmentation/train.txt")[0]
    img = voc.load_image(i).astype(np.float32)
    bg = voc.semantic_gt(i) == 0
    assert img[bg].std(0).mean() > 15


@pytest.mark.parametrize(
    "cls, angle_a, angle_b, expected",
    [
        (0, 0.3, 1.0, 1.0),  # discs: the sum of the radii, at any angle
        (1, 0.0, 0.0, 0.82),  # squares side on: the half sides, 0.82 r each
        (1, math.pi / 4, math.pi / 4, 0.82 * math.sqrt(2)),  # squares corner to corner: the half diagonals
        (2, 0.0, math.pi, 0.55),  # triangles edge to edge: the inradii, 0.55 r each
        (2, math.pi, 0.0, 1.1),  # triangles vertex to vertex: the circumradii, twice the inradii
    ],
)
def test_touch_distance_is_where_the_shapes_meet(cls, angle_a, angle_b, expected):
    """Shape b approaches shape a along +x; worked out from the shapes' geometry."""
    got = touch_distance(cls, 20.0, angle_a, 15.0, angle_b, 0.0)
    assert got == pytest.approx(expected * 35.0, abs=0.5)


@pytest.mark.parametrize("cls", range(len(TOY_CLASSES)))
def test_instances_placed_against_each_other_touch(cls):
    """With ``touch: shapes`` a placement against a same-class instance makes the two share a border
    or overlap, for every shape (by the radii, the default, half the triangles keep a background gap
    of a few pixels)."""
    s = ToySettings(touch_prob=1.0, touch="shapes")
    h = w = 220
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(cls)
    placed_against = 0
    for _ in range(40):
        a_angle, a_r = rng.uniform(0, 2 * math.pi), rng.uniform(s.min_radius, s.max_radius)
        first = (cls, 110.0, 110.0, a_r, a_angle, False)
        spot = _place(rng, h, w, [first], cls, s)
        if spot is None or not spot[4]:
            continue  # fell outside the image: placed free-standing instead
        placed_against += 1
        y, x, r, angle, _ = spot
        a = _shape_mask(cls, yy - 110, xx - 110, a_r, a_angle)
        b = _shape_mask(cls, yy - y, xx - x, r, angle)
        assert (ndimage.binary_dilation(a, structure=np.ones((3, 3))) & b).any()
        assert (a & b).sum() < 0.35 * min(a.sum(), b.sum())  # a little overlap, not one on the other
    assert placed_against >= 30


def test_by_the_radii_the_centres_are_drawn_as_before():
    """The default placement (``touch: radii``) keeps the toy's data as it was: centres
    (r_a + r_b) x U(0.72, 0.92) apart, the angle drawn after the placement. Two triangles edge to
    edge (inradii 0.55 r each) then stay 0.17 (r_a + r_b) apart or more: the gaps ``shapes`` closes."""
    s = ToySettings(touch_prob=1.0)
    rng = np.random.default_rng(0)
    first = (2, 110.0, 110.0, 20.0, 0.0, False)
    against = 0
    for _ in range(20):
        spot = _place(rng, 220, 220, [first], 2, s)
        if spot is not None and spot[4]:
            against += 1
            y, x, r, angle, _ = spot
            assert angle is None
            assert 0.72 * (20 + r) - 1e-6 <= math.hypot(y - 110, x - 110) <= 0.92 * (20 + r) + 1e-6
    assert against >= 15


def test_an_unknown_touch_is_refused():
    with pytest.raises(ValueError, match="toy.touch: 'sideways' is not one of radii, shapes"):
        ToySettings(touch="sideways")
