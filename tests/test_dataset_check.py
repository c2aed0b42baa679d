"""The dataset check: every bad input of a split reported at once, naming the file and the id."""

import json
import re
import shutil

import numpy as np
import pytest
from conftest import load_config, snakemake
from PIL import Image

from irn_core.datasets import DatasetError
from irn_core.stages.data import check_dataset, min_image_side
from irn_core.toy import TOY_CLASSES, ToySettings, write_toy_dataset
from irn_core.voc import save_palette_png

LISTS = {
    "train_list": "ImageSets/Segmentation/train.txt",
    "eval_list": "ImageSets/Segmentation/train.txt",
    "val_list": "ImageSets/Segmentation/val.txt",
}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    write_toy_dataset(root, ToySettings(n_train=6, n_val=2, seed=5, min_size=96, max_size=112))
    return root


@pytest.fixture
def root(clean, tmp_path):
    """A private copy of the clean dataset, to break."""
    return shutil.copytree(clean, tmp_path / "voc")


def _cfg(root, scales=(1.0, 0.5)):
    return {
        "dataset": {
            "kind": "voc",
            "root": str(root),
            "classes": list(TOY_CLASSES),
            "label_classes": list(TOY_CLASSES),
            **LISTS,
        },
        "cam": {"scales": list(scales)},
    }


def _ids(root, split="train"):
    return (root / f"ImageSets/Segmentation/{split}.txt").read_text().split()


def _check(root, key="eval_list", tmp=None):
    out = (tmp or root) / f"manifest_{key}.json"
    return check_dataset(_cfg(root), key, str(out)), out


def test_clean_split_gives_a_manifest(root):
    manifest, out = _check(root)
    ids = _ids(root)
    assert manifest["ids"] == ids and manifest["warnings"] == []
    first = manifest["images"][ids[0]]
    with Image.open(root / f"JPEGImages/{ids[0]}.jpg") as im:
        assert first["size"] == [im.height, im.width]
    assert json.loads(out.read_text())["digest"] == manifest["digest"]
    # equal content, equal digest; one changed pixel, another digest
    again, _ = _check(root)
    assert again["digest"] == manifest["digest"]
    img = np.array(Image.open(root / f"JPEGImages/{ids[1]}.jpg"))
    img[0, 0] = 255 - img[0, 0]
    Image.fromarray(img).save(root / f"JPEGImages/{ids[1]}.jpg", quality=100)
    assert _check(root)[0]["digest"] != manifest["digest"]


def test_every_problem_is_reported_at_once(root):
    ids = _ids(root)
    (root / "ImageSets/Segmentation/train.txt").write_text("\n".join(ids + [ids[2]]) + "\n")  # duplicate id
    Image.new("RGB", (1, 1)).save(root / f"JPEGImages/{ids[0]}.jpg")  # 1x1 px
    data = (root / f"JPEGImages/{ids[1]}.jpg").read_bytes()
    (root / f"JPEGImages/{ids[1]}.jpg").write_bytes(data[: len(data) // 3])  # truncated
    sem = np.array(Image.open(root / f"SegmentationClass/{ids[3]}.png"))
    save_palette_png(root / f"SegmentationClass/{ids[3]}.png", sem[:-5])  # another size than its image
    (root / f"SegmentationObject/{ids[4]}.png").unlink()  # missing
    (root / f"JPEGImages/{ids[5]}.jpg").unlink()  # absent image
    out = root / "m.json"
    with pytest.raises(DatasetError) as err:
        check_dataset(_cfg(root), "eval_list", str(out))
    msg = str(err.value)
    lst = root / "ImageSets/Segmentation/train.txt"
    assert f"{lst}: image id '{ids[2]}' is listed more than once" in msg
    assert (
        f"JPEGImages/{ids[0]}.jpg: image '{ids[0]}' is 1x1 px; the smallest usable side at the configured "
        f"scales (cam.scales) is {min_image_side([1.0, 0.5])} px" in msg
    )
    assert re.search(rf"JPEGImages/{ids[1]}.jpg: cannot decode image .*\(image '{ids[1]}'\)", msg)
    h, w = sem.shape
    assert f"SegmentationClass/{ids[3]}.png: mask is {w}x{h - 5} px, its image '{ids[3]}' is {w}x{h} px" in msg
    assert f"SegmentationObject/{ids[4]}.png: ground-truth mask not found (image '{ids[4]}')" in msg
    assert f"JPEGImages/{ids[5]}.jpg: image not found (image '{ids[5]}')" in msg
    n = len(msg.splitlines()) - 1  # one line per problem under the heading
    assert f"{n} problem(s)" in msg.splitlines()[0] and n >= 6
    assert not out.exists() and not list(root.glob(".m.json.tmp*"))


def test_image_without_labels_is_a_warning(root):
    ids = _ids(root)
    xml = root / f"Annotations/{ids[2]}.xml"
    xml.write_text(re.sub(r"<object>.*?</object>", "", xml.read_text(), flags=re.S))
    manifest, _ = _check(root, "train_list")
    assert manifest["images"][ids[2]]["labels"] == []
    assert manifest["warnings"] == [
        f"{xml}: image '{ids[2]}' has no label among dataset.classes (skipped for CAM training; its CAMs are empty)"
    ]


def test_unknown_class_and_out_of_range_label_values(root):
    ids = _ids(root)
    xml = root / f"Annotations/{ids[0]}.xml"
    xml.write_text(re.sub(r"<name>\w+</name>", "<name>zebra</name>", xml.read_text(), count=1))
    sem = np.array(Image.open(root / f"SegmentationClass/{ids[1]}.png"))
    sem[0, 0] = 9  # four classes: values 0-4 and 255 only
    save_palette_png(root / f"SegmentationClass/{ids[1]}.png", sem)
    with pytest.raises(DatasetError) as err:
        _check(root)
    msg = str(err.value)
    assert f"{xml}: unknown class 'zebra'" in msg and f"(image '{ids[0]}')" in msg
    assert f"SegmentationClass/{ids[1]}.png: label value(s) [9] of image '{ids[1]}' are beyond the 4 classes" in msg


@pytest.mark.slow
def test_bad_image_stops_the_run_before_training(root, tmp_path):
    """snakemake on a VOC-layout copy with a 1x1 image: the check names file and id, nothing trains,
    and no temporary file is left."""
    ids = _ids(root)
    Image.new("RGB", (1, 1)).save(root / f"JPEGImages/{ids[1]}.jpg")
    cfg = load_config("tests/tiny.yaml")
    cfg["dataset"].update(kind="voc", root=str(root), label_classes=list(TOY_CLASSES), **LISTS)
    cfg.pop("toy")
    for section in ("cam", "irn", "maskrcnn", "deeplab"):
        cfg[section]["batch_size"] = 2
    r = snakemake(tmp_path, cfg, timeout=600)
    assert r.returncode != 0
    # the image is in the train and eval lists: whichever check ran first stopped the run
    logs = "".join(p.read_text() for p in (tmp_path / "results/tiny/logs").glob("check_dataset_*.log"))
    assert f"JPEGImages/{ids[1]}.jpg: image '{ids[1]}' is 1x1 px" in logs
    assert "rule check_dataset" in r.stderr + r.stdout
    assert not (tmp_path / "results/tiny/cam").exists()
    assert not list((tmp_path / "results").rglob(".*tmp*"))
