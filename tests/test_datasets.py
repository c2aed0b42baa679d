"""Dataset readers: learned classes apart from the label classes (VOC layout), COCO JSON, strict JSON."""

import json
import math

import numpy as np
import pytest
from conftest import load_config
from PIL import Image

from irn_core.checks import check_config
from irn_core.coco import COCODataset, instances_json
from irn_core.datasets import (
    DatasetError,
    ManifestDataset,
    fit_size,
    open_dataset,
    pil_resize,
    split_with_labels,
    stage_dataset,
    stage_ids,
)
from irn_core.evaluate import confusion, iou_from_confusion
from irn_core.io import write_json
from irn_core.stages.data import check_dataset
from irn_core.toy import TOY_CLASSES
from irn_core.voc import VOC_CLASSES, VOCDataset, read_split, save_palette_png

V = {name: i + 1 for i, name in enumerate(VOC_CLASSES)}  # VOC PNG values


def _xml(path, names):
    objs = "".join(f"<object><name>{n}</name><difficult>0</difficult></object>" for n in names)
    path.write_text(f"<annotation>{objs}</annotation>")


@pytest.fixture
def voc_indexed(tmp_path):
    """Two 8x8 images on VOC-indexed PNGs: a table, a person and a cat with a void ring; a cat only."""
    root = tmp_path / "voc"
    for sub in ("JPEGImages", "Annotations", "SegmentationClass", "SegmentationObject", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True)
    sem = np.zeros((8, 8), np.uint8)
    obj = np.zeros((8, 8), np.uint8)
    sem[0:3, 0:3], obj[0:3, 0:3] = V["diningtable"], 1
    sem[5:8, 0:3], obj[5:8, 0:3] = V["person"], 2
    sem[0:3, 5:8], obj[0:3, 5:8] = V["cat"], 3
    sem[3, :], obj[3, :] = 255, 255
    only_cat_sem = np.where(np.arange(64).reshape(8, 8) < 20, V["cat"], 0).astype(np.uint8)
    for image_id, s, o, names in (
        ("a", sem, obj, ["diningtable", "person", "cat"]),
        ("b", only_cat_sem, (only_cat_sem > 0).astype(np.uint8), ["cat"]),
    ):
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(root / f"JPEGImages/{image_id}.jpg")
        _xml(root / f"Annotations/{image_id}.xml", names)
        save_palette_png(root / f"SegmentationClass/{image_id}.png", s)
        save_palette_png(root / f"SegmentationObject/{image_id}.png", o)
    (root / "ImageSets/Segmentation/train.txt").write_text("a\nb\n")
    return root


def test_learned_subset_of_voc_classes(voc_indexed):
    """[diningtable, person] on VOC-indexed PNGs: values 11 and 15 become 1 and 2, the cat is
    background, the void ring stays void; the cat instance is not a ground-truth instance."""
    voc = VOCDataset(voc_indexed, ["diningtable", "person"], VOC_CLASSES)
    assert voc.labels("a").tolist() == [1.0, 1.0]
    assert voc.labels("b").tolist() == [0.0, 0.0]
    sem = voc.semantic_gt("a")
    assert sem[0, 0] == 1 and sem[6, 1] == 2 and sem[1, 6] == 0 and (sem[3] == 255).all()
    masks, classes, void = voc.instance_gt("a")
    assert classes.tolist() == [0, 1] and masks.sum(axis=(1, 2)).tolist() == [9, 9] and void.sum() == 8
    obj = voc.object_map("a")
    assert set(np.unique(obj).tolist()) == {0, 1, 2, 255}
    # evaluation covers the learned classes: a perfect prediction has IoU 1 for each of the three
    conf = confusion(np.where(sem == 255, 0, sem), sem, 3)
    assert iou_from_confusion(conf).tolist() == [1.0, 1.0, 1.0]


def test_image_with_only_unlearned_classes_is_reported_and_skipped(voc_indexed, tmp_path):
    cfg = {
        "dataset": {
            "kind": "voc",
            "root": str(voc_indexed),
            "classes": ["diningtable", "person"],
            "train_list": "ImageSets/Segmentation/train.txt",
        }
    }
    manifest = check_dataset(cfg, "train_list", str(tmp_path / "train.json"))
    assert manifest["images"]["a"]["labels"] == [0, 1] and manifest["images"]["b"]["labels"] == []
    assert manifest["warnings"] == [
        f"{voc_indexed}/Annotations/b.xml: image 'b' has no label among dataset.classes "
        f"(skipped for CAM training; its CAMs are empty)"
    ]
    assert manifest["label_classes"] == list(VOC_CLASSES)
    keep, empty = split_with_labels(open_dataset(cfg["dataset"]), ["a", "b"])
    assert keep == ["a"] and empty == ["b"]


def test_class_lists_are_checked_at_start_up(voc_indexed):

    cfg = load_config("config/voc2012.yaml")
    cfg["dataset"].update(
        root=str(voc_indexed),
        classes=["diningtable", "persn"],
        train_list="ImageSets/Segmentation/train.txt",
        eval_list="ImageSets/Segmentation/train.txt",
        val_list="ImageSets/Segmentation/train.txt",
    )
    cfg["cam"]["pretrained"] = None
    cfg["irn"]["init"] = "cam"
    errors = check_config(cfg)
    assert any(
        e.startswith(
            "config key dataset.classes: ['persn'] not among dataset.label_classes (default: VOC's 20 classes)"
        )
        for e in errors
    ), errors
    # an annotation tool's own class list indexes the PNGs
    cfg["dataset"].update(classes=["person"], label_classes=["table", "person"])
    assert not [e for e in check_config(cfg) if "dataset.classes" in e or "config key dataset:" in e]


def test_png_value_beyond_the_label_classes_is_named(voc_indexed):
    voc = VOCDataset(voc_indexed, ["person"], ["diningtable", "person"])
    with pytest.raises(DatasetError, match=r"a.png: label value 15 is beyond the 2 label classes"):
        voc.semantic_gt("a")


def _poly(x0, y0, x1, y1):
    """A COCO polygon of the pixel block [x0, x1) x [y0, y1)."""
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


@pytest.fixture
def coco_root(tmp_path):
    """Three 10x10 images: polygons of two classes (one overlapping), an RLE crowd region, and an
    image without any annotation."""
    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    for name in ("x.jpg", "y.jpg", "z.jpg"):
        Image.fromarray(np.full((10, 10, 3), 90, np.uint8)).save(root / "images" / name)
    crowd = np.zeros((10, 10), bool)
    crowd[6:10, 6:10] = True
    from irn_core.coco import rle_encode

    data = {
        "images": [
            {"id": 7, "file_name": "x.jpg", "height": 10, "width": 10},
            {"id": 8, "file_name": "y.jpg", "height": 10, "width": 10},
            {"id": 9, "file_name": "z.jpg", "height": 10, "width": 10},
        ],
        "categories": [{"id": 3, "name": "dog"}, {"id": 5, "name": "kite"}, {"id": 9, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 3, "segmentation": _poly(0, 0, 6, 6), "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 9, "segmentation": _poly(2, 2, 4, 4), "iscrowd": 0},
            {"id": 3, "image_id": 7, "category_id": 9, "segmentation": rle_encode(crowd), "iscrowd": 1},
            {"id": 4, "image_id": 8, "category_id": 5, "segmentation": _poly(0, 0, 3, 3), "iscrowd": 0},
        ],
    }
    (root / "train.json").write_text(json.dumps(data))
    return root


def test_coco_reader(coco_root):
    coco = COCODataset(coco_root, ["dog", "cat"], ["train.json"], "images")
    assert coco.label_classes == ("dog", "kite", "cat")
    assert coco.labels("x").tolist() == [1.0, 1.0] and coco.labels("y").tolist() == [0.0, 0.0]
    masks, classes, void = coco.instance_gt("x")
    # the crowd region is void, not an instance; the larger dog first
    assert classes.tolist() == [0, 1] and masks.sum(axis=(1, 2)).tolist() == [36, 4] and void.sum() == 16
    sem = coco.semantic_gt("x")
    assert sem[0, 0] == 1 and sem[3, 3] == 2 and sem[8, 8] == 255 and sem[5, 8] == 0
    assert coco.semantic_gt("z").max() == 0 and coco.instance_gt("z")[0].shape == (0, 10, 10)
    assert coco.image_path("x") == coco_root / "images/x.jpg" and coco.image_size("x") == (10, 10)


def test_coco_class_order_and_names_are_checked(coco_root):
    with pytest.raises(DatasetError, match=r"dataset.classes must follow the file's category order \(dog, cat\)"):
        COCODataset(coco_root, ["cat", "dog"], ["train.json"], "images")
    with pytest.raises(DatasetError, match=r"class\(es\) \['horse'\] of dataset.classes are not categories"):
        COCODataset(coco_root, ["horse"], ["train.json"], "images")


def test_coco_check_reports_unannotated_images(coco_root, tmp_path):
    cfg = {
        "dataset": {
            "kind": "coco",
            "root": str(coco_root),
            "classes": ["dog", "kite", "cat"],
            "image_dir": "images",
            "train_list": "train.json",
            "eval_list": "train.json",
        },
    }
    manifest = check_dataset(cfg, "eval_list", str(tmp_path / "eval.json"))
    assert manifest["ids"] == ["x", "y", "z"] and manifest["images"]["z"]["labels"] == []
    assert manifest["warnings"] == [
        f"{coco_root}/train.json: image 'z' has no label among dataset.classes "
        f"(skipped for CAM training; its CAMs are empty)"
    ]
    (coco_root / "images/y.jpg").unlink()
    with pytest.raises(DatasetError, match=r"images/y.jpg: image not found"):
        check_dataset(cfg, "eval_list", str(tmp_path / "eval.json"))


def write_toy_coco(data, settings) -> dict:
    """The toy images of ``settings`` written to ``data`` in VOC layout, plus their train and val
    annotations in COCO layout (data/annotations/{train,val}.json). Returns the config's dataset
    keys that read them as a COCO set (pseudo labels judged on train)."""
    from irn_core.toy import write_toy_dataset

    write_toy_dataset(data, settings)
    (data / "annotations").mkdir()
    for split in ("train", "val"):
        ids = read_split(data / f"ImageSets/Segmentation/{split}.txt")
        (data / f"annotations/{split}.json").write_text(json.dumps(voc_to_coco(data, ids)))
    train, val = "annotations/train.json", "annotations/val.json"
    lists = {"train_list": train, "eval_list": train, "val_list": val}
    return {"kind": "coco", "root": str(data), "image_dir": "JPEGImages", **lists}


def voc_to_coco(root, ids, classes=TOY_CLASSES) -> dict:
    """The COCO instances dict of VOC-layout images (RLE masks), file names as in JPEGImages."""
    voc = VOCDataset(root, classes)
    images, instances = [], []
    for n, image_id in enumerate(ids, start=1):
        masks, cls, _ = voc.instance_gt(image_id)
        h, w = voc.image_size(image_id)
        images.append({"id": n, "file_name": f"{image_id}.jpg", "height": h, "width": w})
        instances += [{"image_id": n, "mask": m, "class": c, "score": 1.0} for m, c in zip(masks, cls)]
    return instances_json(images, instances, list(classes))


def test_coco_layout_of_the_toy_set_reads_as_the_voc_layout(toy_root, tmp_path):
    ids = read_split(toy_root / "ImageSets/Segmentation/val.txt")
    (tmp_path / "val.json").write_text(json.dumps(voc_to_coco(toy_root, ids)))
    voc = VOCDataset(toy_root, TOY_CLASSES)
    coco = COCODataset(tmp_path, TOY_CLASSES, ["val.json"], str(toy_root / "JPEGImages"))
    for image_id in ids:
        assert (coco.labels(image_id) == voc.labels(image_id)).all()
        assert (coco.semantic_gt(image_id) == voc.semantic_gt(image_id)).all()
        a, b = coco.instance_gt(image_id), voc.instance_gt(image_id)
        order = np.argsort(-b[0].sum(axis=(1, 2)), kind="stable")
        assert (a[0] == b[0][order]).all() and (a[1] == b[1][order]).all() and (a[2] == b[2]).all()


def test_json_files_are_strict(tmp_path):
    write_json(
        tmp_path / "e.json",
        {"per_class_iou": [0.5, float("nan"), np.float32("nan")], "n": np.int64(3), "inf": math.inf},
    )
    text = (tmp_path / "e.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"per_class_iou": [0.5, None, None], "n": 3, "inf": None}


def test_coco2014_config_names_the_json_categories(tmp_path):
    """config/coco2014.yaml validates, and its 80 classes are COCO's categories in the file's order."""
    from snakemake.utils import validate

    cfg = load_config("config/coco2014.yaml")
    validate(cfg, "workflow/schemas/config.schema.yaml")
    classes = cfg["dataset"]["classes"]
    assert len(classes) == 80 and classes[0] == "person" and classes[-1] == "toothbrush"
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    gaps = [12, 26, 29, 30, 45, 66, 68, 69, 71, 83]  # COCO's unused category ids
    ids = [i for i in range(1, 91) if i not in gaps]
    data = {
        "images": [{"id": 1, "file_name": "COCO_train2014_000000000009.jpg", "height": 4, "width": 4}],
        "annotations": [],
        "categories": [{"id": i, "name": n} for i, n in zip(ids, classes)],
    }
    for split in ("train", "val"):
        (root / f"annotations/instances_{split}2014.json").write_text(json.dumps(data))
    cfg["dataset"]["root"] = str(root)
    cfg["cam"]["pretrained"] = None
    cfg["irn"]["init"] = "cam"
    assert not [e for e in check_config(cfg) if "dataset.classes" in e or "config key dataset:" in e]
    data["categories"][0]["name"] = "people"
    (root / "annotations/instances_train2014.json").write_text(json.dumps(data))
    errors = check_config(cfg)
    assert any("config key dataset.classes: ['person'] not among the categories of the COCO file" in e for e in errors)


def test_fit_size_bounds_the_longer_side():
    assert fit_size((3000, 4000), 1024) == (768, 1024)  # 1024 / 4000 = 0.256: 3000 x 0.256 = 768
    assert fit_size((375, 500), 100) == (75, 100)
    assert fit_size((4000, 10), 1024) == (1024, 3)  # 2.56 rounds to 3
    assert fit_size((500, 375), 1024) == (500, 375) and fit_size((500, 375), None) == (500, 375)


def test_stages_read_the_dataset_through_the_manifests(toy_root, tmp_path):
    """With max_side, check_dataset records the size the stages read; a stage reads ids, sizes,
    labels and image files from the manifests (no reader), and ground truth from the reader, at
    that size."""
    ds = {
        "kind": "voc",
        "root": str(toy_root),
        "classes": list(TOY_CLASSES),
        "label_classes": list(TOY_CLASSES),
        "train_list": "ImageSets/Segmentation/val.txt",
        "max_side": 100,
    }
    manifest = check_dataset({"run_name": "m", "dataset": ds}, "train_list", str(tmp_path / "train.json"))
    raw = VOCDataset(toy_root, TOY_CLASSES)
    cfg = {"dataset": ds, "manifests": {"train": str(tmp_path / "train.json")}}
    data = stage_dataset(cfg)
    assert isinstance(data, ManifestDataset) and data._reader is None
    ids = read_split(toy_root / "ImageSets/Segmentation/val.txt")
    assert stage_ids(cfg, "train_list") == ids
    for image_id in ids[:4]:
        h, w = raw.image_size(image_id)
        size = fit_size((h, w), 100)
        assert manifest["images"][image_id]["size"] == list(size) and max(size) == 100  # toy images are 160-224 px
        assert manifest["images"][image_id]["file"] == f"JPEGImages/{image_id}.jpg"
        img = data.load_image(image_id)
        assert img.shape == (*size, 3) and data.image_size(image_id) == size
        assert (img == pil_resize(raw.load_image(image_id), size)).all()
        assert (data.labels(image_id) == raw.labels(image_id)).all()
    assert data._reader is None  # none of that opened the reader
    gt = data.semantic_gt(ids[0])  # ground truth: the reader, at the size read
    assert gt.shape == fit_size(raw.image_size(ids[0]), 100)
    assert (gt == pil_resize(raw.semantic_gt(ids[0]), gt.shape, nearest=True)).all()
    masks, classes, void = data.instance_gt(ids[0])
    assert masks.shape[1:] == gt.shape == void.shape and len(classes) == len(raw.instance_gt(ids[0])[1])
