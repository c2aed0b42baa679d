import numpy as np
import pytest
from PIL import Image

from irn_core.datasets import DatasetError, split_with_labels
from irn_core.toy import TOY_CLASSES
from irn_core.voc import VOCDataset, read_split, save_palette_png, voc_palette


def test_palette_matches_voc_colours():
    pal = voc_palette()
    assert pal[0].tolist() == [0, 0, 0]
    assert pal[1].tolist() == [128, 0, 0]
    assert pal[15].tolist() == [192, 128, 128]  # person
    assert pal[255].tolist() == [224, 224, 192]  # void


def test_reader_on_generated_data(toy_root):
    voc = VOCDataset(toy_root, TOY_CLASSES)
    ids = read_split(toy_root / "ImageSets/Segmentation/train.txt")
    assert len(ids) == 40 and ids[0] == "2019_000001"
    for image_id in ids[:10]:
        img = voc.load_image(image_id)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        labels = voc.labels(image_id)
        sem = voc.semantic_gt(image_id)
        assert sem.shape == img.shape[:2]
        present = set(np.unique(sem).tolist()) - {0, 255}
        # image-level labels from the XML are exactly the classes in the mask
        assert present == {int(c) + 1 for c in np.nonzero(labels)[0]}
        masks, classes, void = voc.instance_gt(image_id)
        assert len(masks) == len(classes) >= 1
        for m, c in zip(masks, classes):
            assert (sem[m] == c + 1).all()
        assert voc.image_size(image_id) == img.shape[:2]


def test_unknown_class_names_the_file(tmp_path, toy_root):
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "x.xml").write_text("<annotation><object><name>zebra</name></object></annotation>")
    voc = VOCDataset(tmp_path, TOY_CLASSES)
    with pytest.raises(DatasetError, match=r"x\.xml.*unknown class 'zebra'"):
        voc.labels("x")


def test_broken_xml_and_missing_image_are_clear(tmp_path):
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "y.xml").write_text("<annotation><object>")
    voc = VOCDataset(tmp_path, TOY_CLASSES)
    with pytest.raises(DatasetError, match=r"y\.xml: not valid XML"):
        voc.labels("y")
    with pytest.raises(DatasetError, match=r"JPEGImages/y\.jpg: image not found"):
        voc.load_image("y")
    with pytest.raises(DatasetError, match="split list not found"):
        read_split(tmp_path / "nope.txt")


def test_images_without_labels_are_reported(tmp_path):
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "a.xml").write_text("<annotation><object><name>disc</name></object></annotation>")
    (tmp_path / "Annotations" / "b.xml").write_text("<annotation></annotation>")
    keep, empty = split_with_labels(VOCDataset(tmp_path, TOY_CLASSES), ["a", "b"])
    assert keep == ["a"] and empty == ["b"]


def test_palette_png_round_trip(tmp_path):
    lab = np.array([[0, 1, 255], [3, 2, 1]], np.uint8)
    save_palette_png(tmp_path / "l.png", lab)
    img = Image.open(tmp_path / "l.png")
    assert img.mode == "P"
    assert np.array_equal(np.asarray(img), lab)
