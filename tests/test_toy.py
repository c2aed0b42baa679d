import hashlib
from pathlib import Path

import numpy as np

from irn_core.toy import TOY_CLASSES, ToySettings, touching_same_class, write_toy_dataset
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
