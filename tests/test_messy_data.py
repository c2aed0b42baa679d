"""Messy real data: every input a user brings gets a clear, early word, and nothing is silently
wrong (EXIF orientation, COCO annotations without a usable mask, XML classes without a mask pixel,
settings that would plan empty jobs, short failures, files that are not stage files)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import dry_run, irn, load_config, snakemake
from PIL import Image

from irn_core.coco import COCODataset, rle_encode
from irn_core.datasets import DatasetError, read_image
from irn_core.stages.data import check_dataset
from irn_core.toy import TOY_CLASSES, ToySettings, write_toy_dataset
from irn_core.voc import save_palette_png

ROOT = Path(__file__).resolve().parents[1]
LISTS = {
    "train_list": "ImageSets/Segmentation/train.txt",
    "eval_list": "ImageSets/Segmentation/train.txt",
    "val_list": "ImageSets/Segmentation/val.txt",
}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    write_toy_dataset(root, ToySettings(n_train=4, n_val=2, seed=7, min_size=96, max_size=112))
    return root


@pytest.fixture
def voc(clean, tmp_path):
    return shutil.copytree(clean, tmp_path / "voc")


def _cfg(root):
    ds = {"kind": "voc", "root": str(root), "classes": list(TOY_CLASSES), "label_classes": list(TOY_CLASSES), **LISTS}
    return {"dataset": ds, "cam": {"scales": [1.0]}}


def _ids(root):
    return (root / "ImageSets/Segmentation/train.txt").read_text().split()


def _save_rotated(path: Path, pixels: np.ndarray, orientation: int = 6) -> None:
    """A JPEG whose EXIF tag says: display the stored pixels turned (6: 90 degrees clockwise)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, exif=exif.tobytes())


@pytest.mark.parametrize("square", [True, False])
def test_exif_orientation_is_named_for_square_and_other_images(voc, tmp_path, square):
    """Images are read as stored (EXIF ignored). An image with ground truth whose EXIF tag turns it
    is a problem naming the tag, in the square case (sizes agree, masks silently rotated) as in the
    non-square one (the masks match the displayed size); without ground truth it is a warning."""
    image_id = _ids(voc)[0]
    path = voc / f"JPEGImages/{image_id}.jpg"
    stored = np.asarray(Image.open(path).convert("RGB"))
    h, w = stored.shape[:2]
    if square:
        side = min(h, w)
        stored = stored[:side, :side]
        for folder in ("SegmentationClass", "SegmentationObject"):
            png = voc / f"{folder}/{image_id}.png"
            save_palette_png(png, np.asarray(Image.open(png))[:side, :side])
    else:  # the stored pixels turned, as a phone writes them; the masks drawn on the displayed image
        stored = np.ascontiguousarray(np.rot90(stored, 1))
    _save_rotated(path, stored)
    assert read_image(path).shape[:2] == stored.shape[:2]  # as stored
    with pytest.raises(DatasetError) as err:
        check_dataset(_cfg(voc), "eval_list", str(tmp_path / "eval.json"))
    msg = str(err.value)
    assert f"{path}: image '{image_id}' carries EXIF orientation 6 (displayed rotated 90 degrees" in msg
    assert "Images are read as stored" in msg and "exif_transpose" in msg
    if not square:
        assert "mask is" in msg  # the masks' size is the displayed one
    # train images have no masks to disagree with: a warning in the manifest
    cfg = _cfg(voc)
    cfg["dataset"]["train_list"] = "ImageSets/Segmentation/train.txt"
    manifest = check_dataset(cfg, "train_list", str(tmp_path / "train.json"))
    assert any("carries EXIF orientation 6" in w and "stored orientation" in w for w in manifest["warnings"])


def test_voc_class_named_in_the_xml_without_a_pixel_is_a_warning(voc, tmp_path):
    image_id = _ids(voc)[1]
    png = voc / f"SegmentationClass/{image_id}.png"
    sem = np.asarray(Image.open(png)).copy()
    named = sorted(set(np.unique(sem).tolist()) - {0, 255})
    sem[sem == named[0]] = 0  # the class still named in the XML
    save_palette_png(png, sem)
    obj = voc / f"SegmentationObject/{image_id}.png"
    objects = np.asarray(Image.open(obj)).copy()
    objects[np.asarray(Image.open(png)) == 0] = 0
    save_palette_png(obj, objects)
    manifest = check_dataset(_cfg(voc), "eval_list", str(tmp_path / "eval.json"))
    cls = TOY_CLASSES[named[0] - 1]
    assert any(
        f"class(es) ['{cls}'] named in {voc}/Annotations/{image_id}.xml have no pixel" in w
        and f"image '{image_id}'" in w
        for w in manifest["warnings"]
    )


def _coco(tmp_path, annotations):
    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        Image.fromarray(np.full((10, 12, 3), 80, np.uint8)).save(root / "images" / name)
    data = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "height": 10, "width": 12},
            {"id": 2, "file_name": "b.jpg", "height": 10, "width": 12},
        ],
        "categories": [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}],
        "annotations": annotations,
    }
    (root / "train.json").write_text(json.dumps(data))
    return root


def _ann(i, image, cat, seg, crowd=0):
    return {"id": i, "image_id": image, "category_id": cat, "segmentation": seg, "iscrowd": crowd}


def test_coco_annotations_without_a_usable_mask_are_dropped_with_a_warning(tmp_path):
    """An empty segmentation, polygons of fewer than 3 points and an RLE without a pixel give no
    mask: each is a warning naming the annotation, the image and the file, and is dropped (its
    class is no label of the image unless another annotation gives it one)."""
    empty_rle = rle_encode(np.zeros((10, 12), bool))
    good = [[1, 1, 6, 1, 6, 6, 1, 6]]
    root = _coco(
        tmp_path,
        [
            _ann(10, 1, 1, []),  # empty list
            _ann(11, 1, 2, [[1, 1, 5, 5]]),  # 4 numbers (pycocotools: "Argument 'bb' has incorrect type")
            _ann(12, 2, 1, [[3, 3]]),  # 2 numbers
            _ann(13, 2, 2, empty_rle, crowd=1),  # zero-area RLE
            _ann(14, 2, 1, [*good, [1, 1, 2, 2]]),  # a good polygon and a short one: the short one dropped
        ],
    )
    coco = COCODataset(root, ["dog", "cat"], ["train.json"], "images")
    assert coco.labels("a").tolist() == [0, 0] and coco.labels("b").tolist() == [1, 0]
    assert coco.instance_gt("b")[0].sum() == 25  # the good polygon's mask
    cfg = {
        "dataset": {
            "kind": "coco",
            "root": str(root),
            "classes": ["dog", "cat"],
            "image_dir": "images",
            "train_list": "train.json",
            "eval_list": "train.json",
        }
    }
    manifest = check_dataset(cfg, "eval_list", str(tmp_path / "eval.json"))
    w = "\n".join(manifest["warnings"])
    f = root / "train.json"
    assert f"{f}: annotation 10 of image 'a' has an empty segmentation (no polygon); dropped" in w
    assert f"{f}: annotation 11 of image 'a' has no polygon of 3 points or more (6 numbers); dropped" in w
    assert f"{f}: annotation 12 of image 'b' has no polygon of 3 points or more" in w
    assert f"{f}: annotation 13 of image 'b' has an RLE mask without a pixel; dropped" in w
    assert f"{f}: annotation 14 of image 'b' has 1 polygon(s) of fewer than 3 points; they are dropped" in w
    assert "bb" not in w and "not supported" not in w  # our words, not pycocotools'


def test_coco_annotations_that_cannot_be_read_are_errors_all_at_once(tmp_path):
    root = _coco(
        tmp_path,
        [
            _ann(20, 1, 1, [[1, 1, 5, 1, 5]]),  # odd count
            _ann(21, 1, 2, [["x", 1, 5, 1, 5, 5]]),  # not numbers
            _ann(22, 2, 1, rle_encode(np.ones((4, 4), bool))),  # RLE of another size
            _ann(23, 2, 2, "polygon"),  # unknown format
        ],
    )
    cfg = {
        "dataset": {
            "kind": "coco",
            "root": str(root),
            "classes": ["dog", "cat"],
            "image_dir": "images",
            "train_list": "train.json",
            "eval_list": "train.json",
        }
    }
    with pytest.raises(DatasetError) as err:
        check_dataset(cfg, "train_list", str(tmp_path / "train.json"))
    msg, f = str(err.value), root / "train.json"
    assert "4 problem(s)" in msg
    assert f"{f}: annotation 20 of image 'a' has a polygon of 5 numbers (x, y pairs are needed)" in msg
    assert f"{f}: annotation 21 of image 'a' has a polygon that is not a list of numbers" in msg
    assert f"{f}: annotation 22 of image 'b' has an RLE of size [4, 4], its image is 10x12" in msg
    assert f"{f}: annotation 23 of image 'b' has a segmentation of unknown format (str" in msg


def test_shards_above_the_images_of_a_split_stop_at_start_up(tmp_path):
    cfg = load_config("tests/tiny.yaml")
    cfg["shards"] = 1000
    r = dry_run(tmp_path, cfg)
    assert r.returncode != 0
    assert (
        "config key shards: 1000 is above the 32 images of dataset.train_list, so 968 job(s) of each "
        "per-image stage would have no image; at most 32"
    ) in r.stderr + r.stdout
    cfg["shards"] = 32
    assert dry_run(tmp_path, cfg).returncode == 0


def test_a_config_error_is_a_few_lines_naming_key_and_allowed_keys(tmp_path):
    cfg = load_config("config/config.yaml")
    cfg["cam"]["epochz"] = 3
    r = dry_run(tmp_path, cfg)
    out = (r.stdout + r.stderr).strip().splitlines()
    assert r.returncode != 0 and len(out) <= 6, out
    assert any("config key cam.epochz: unknown (allowed here: backbone, batch_size," in line for line in out)
    cfg = load_config("config/config.yaml")
    cfg["cam"]["backbone"] = "vgg16"
    r = dry_run(tmp_path, cfg)
    out = (r.stdout + r.stderr).strip().splitlines()
    assert len(out) <= 6 and any("config key cam.backbone: 'vgg16' is not one of resnet50" in line for line in out)


@pytest.mark.slow
def test_a_dataset_check_failure_says_its_message_once_and_where_the_traceback_is(clean, tmp_path):
    root = shutil.copytree(clean, tmp_path / "voc")
    image_id = _ids(root)[0]
    (root / f"JPEGImages/{image_id}.jpg").write_bytes(b"truncated")
    cfg = load_config("tests/tiny.yaml")
    cfg["dataset"].update(kind="voc", root=str(root), label_classes=list(TOY_CLASSES), **LISTS)
    for section in ("cam", "irn", "maskrcnn", "deeplab"):
        cfg[section]["batch_size"] = 2
    r = snakemake(tmp_path, cfg, "--until", "check_dataset", cores=1, timeout=600)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    needle = f"JPEGImages/{image_id}.jpg: cannot decode image"
    assert out.count(needle) == 1 and out.count("ERROR DatasetError: dataset check of") == 1, out[-3000:]
    assert "(traceback in results/tiny/logs/check_dataset_" in out
    assert "Traceback (most recent call last)" not in out
    named = re.search(r"\(traceback in (\S+)\)", out)[1]
    log = (tmp_path / named).read_text()
    assert "Traceback (most recent call last)" in log and needle in log
    # what the failure adds to Snakemake's own start-up lines: the message, where its traceback is,
    # Snakemake's summary of the failed job
    tail = out[out.index("ERROR DatasetError") :].splitlines()
    assert len(tail) <= 25, tail


def test_irn_inspect_names_the_file_and_tells_not_a_stage_file_from_incomplete(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not HDF5")
    r = irn("inspect", str(text))
    assert r.returncode == 2 and f"{text}: not an HDF5 file" in r.stderr
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    r = irn("inspect", str(other))
    assert r.returncode == 2 and f"{other}: an HDF5 file, but not a stage file of this pipeline" in r.stderr
    assert "incomplete" not in r.stderr
    killed = tmp_path / ".cams.h5.tmp12345"
    with h5py.File(killed, "w") as f:
        f.create_group("img")
    r = irn("inspect", str(killed))
    assert (
        r.returncode == 2
        and f"{killed}: stage file is incomplete (the temporary file of an interrupted writer)" in r.stderr
    )
    r = irn("show", str(tmp_path), "img")
    assert r.returncode == 2 and str(tmp_path) in r.stderr
