"""PASCAL VOC layout: split lists, XML image-level labels, palette PNG masks.

One reader serves the built-in toy set and real VOC 2012 (with SBD's ``train_aug`` list).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
IGNORE = 255


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file."""


def voc_palette() -> np.ndarray:
    """The standard VOC colour map: (256, 3) uint8, index -> RGB."""
    pal = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


def save_palette_png(path: str | Path, label: np.ndarray) -> None:
    """Write a (H, W) uint8 index map as a VOC palette PNG."""
    img = Image.fromarray(label.astype(np.uint8), mode="P")
    img.putpalette(voc_palette().reshape(-1).tolist())
    img.save(path)


def read_split(path: str | Path) -> list[str]:
    """Image ids of a split list file (one id per line, first token)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: split list not found")
    ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise DatasetError(f"{path}: split list is empty")
    return ids


@dataclass(frozen=True)
class VOCObject:
    name: str
    box: tuple[int, int, int, int]  # xmin, ymin, xmax, ymax (VOC, 1-based inclusive)
    difficult: bool


def read_annotation(path: str | Path) -> list[VOCObject]:
    """Objects named in a VOC ``Annotations/<id>.xml`` file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: annotation file not found")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise DatasetError(f"{path}: not valid XML ({err})") from err
    objects = []
    for obj in root.iter("object"):
        name = obj.findtext("name")
        if name is None:
            raise DatasetError(f"{path}: <object> without <name>")
        bb = obj.find("bndbox")
        box = (0, 0, 0, 0)
        if bb is not None:
            box = tuple(int(float(bb.findtext(k, "0"))) for k in ("xmin", "ymin", "xmax", "ymax"))
        objects.append(VOCObject(name.strip(), box, obj.findtext("difficult", "0").strip() == "1"))
    return objects


class VOCDataset:
    """Read-only view of a dataset in VOC layout.

    ``classes`` are the foreground class names in index order (index 0 = first foreground
    class; label maps use 0 for background and ``k + 1`` for class ``k``).
    """

    def __init__(self, root: str | Path, classes: list[str] | tuple[str, ...]):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: dataset root not found")
        self.classes = tuple(classes)
        self._index = {name: i for i, name in enumerate(self.classes)}

    def image_path(self, image_id: str) -> Path:
        return self.root / "JPEGImages" / f"{image_id}.jpg"

    def load_image(self, image_id: str) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        path = self.image_path(image_id)
        if not path.is_file():
            raise DatasetError(f"{path}: image not found")
        try:
            with Image.open(path) as img:
                return np.array(img.convert("RGB"))  # writable: torch.from_numpy shares it
        except OSError as err:
            raise DatasetError(f"{path}: cannot decode image ({err})") from err

    def image_size(self, image_id: str) -> tuple[int, int]:
        """(H, W) without decoding the pixels."""
        with Image.open(self.image_path(image_id)) as img:
            return img.size[1], img.size[0]

    def labels(self, image_id: str) -> np.ndarray:
        """Multi-hot (C,) float32 image-level label from the XML annotation."""
        path = self.root / "Annotations" / f"{image_id}.xml"
        out = np.zeros(len(self.classes), dtype=np.float32)
        for obj in read_annotation(path):
            if obj.name not in self._index:
                raise DatasetError(f"{path}: unknown class '{obj.name}' (known: {', '.join(self.classes)})")
            out[self._index[obj.name]] = 1.0
        return out

    def _load_png(self, folder: str, image_id: str) -> np.ndarray:
        path = self.root / folder / f"{image_id}.png"
        if not path.is_file():
            raise DatasetError(f"{path}: ground-truth mask not found")
        with Image.open(path) as img:
            if img.mode != "P" and img.mode != "L":
                raise DatasetError(f"{path}: expected a palette or grey PNG, got mode {img.mode}")
            return np.asarray(img, dtype=np.uint8)

    def semantic_gt(self, image_id: str) -> np.ndarray:
        """(H, W) uint8: 0 background, k+1 class k, 255 void."""
        return self._load_png("SegmentationClass", image_id)

    def instance_gt(self, image_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ground-truth instances: masks (N, H, W) bool, classes (N,) int (0-based), void (H, W) bool."""
        obj = self._load_png("SegmentationObject", image_id)
        cls = self.semantic_gt(image_id)
        ids = [i for i in np.unique(obj) if i not in (0, IGNORE)]
        masks = np.stack([obj == i for i in ids]) if ids else np.zeros((0,) + obj.shape, bool)
        classes = []
        for m in masks:
            values = cls[m]
            values = values[(values != 0) & (values != IGNORE)]
            if values.size == 0:
                raise DatasetError(f"{self.root}/SegmentationObject/{image_id}.png: instance without a class")
            classes.append(int(np.bincount(values).argmax()) - 1)
        return masks, np.asarray(classes, dtype=np.int64), obj == IGNORE

    def split_with_labels(self, ids: list[str]) -> tuple[list[str], list[str]]:
        """Split ids into (with at least one foreground label, without any)."""
        keep, empty = [], []
        for image_id in ids:
            (keep if self.labels(image_id).any() else empty).append(image_id)
        return keep, empty
