"""The dataset a run reads, behind one interface whatever its layout.

``dataset.kind`` names the reader module: ``voc`` (PASCAL VOC layout, which the generated toy set
uses too) or ``coco`` (an image folder and COCO instance JSON files). Each implements the
:class:`Dataset` protocol and three module functions (``open_dataset``, ``split_ids``,
``default_label_classes``) and is imported by name when first used, so a run loads, and its code
versions cover, its own reader only. No stage knows which one it reads.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

import numpy as np

IGNORE = 255  # void / unsure label value
SPLIT_KEYS = ("train_list", "eval_list", "val_list")
# the reader module of each dataset.kind
READERS = {"toy": "irn_core.voc", "voc": "irn_core.voc", "coco": "irn_core.coco"}


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file."""


class Dataset(Protocol):
    """What every stage reads of a dataset. Label maps use 0 for background, ``k + 1`` for learned
    class ``k`` and 255 (:data:`IGNORE`) for void."""

    classes: tuple[str, ...]  # the learned classes, in index order
    label_classes: tuple[str, ...]  # the classes the dataset's own labels are indexed by

    def image_path(self, image_id: str) -> Path:
        """The image file."""

    def load_image(self, image_id: str) -> np.ndarray:
        """(H, W, 3) uint8 RGB; a DatasetError naming the file when it cannot be read."""

    def image_size(self, image_id: str) -> tuple[int, int]:
        """(H, W) without decoding the pixels."""

    def labels(self, image_id: str) -> np.ndarray:
        """Multi-hot (C,) float32 image-level label over the learned classes."""

    def label_file(self, image_id: str) -> Path:
        """The file an image's labels come from (named in messages)."""

    def semantic_gt(self, image_id: str) -> np.ndarray:
        """(H, W) uint8 class map."""

    def instance_gt(self, image_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Instances of the learned classes: masks (N, H, W) bool (void excluded), classes (N,),
        void (H, W) bool."""

    def object_map(self, image_id: str) -> np.ndarray:
        """(H, W) class-agnostic instance ids of the learned classes: 0 none, 255 void."""

    def has_gt(self, image_id: str) -> bool:
        """Whether the image has ground-truth masks."""

    def check_record(self, image_id: str, size: tuple[int, int] | None, with_gt: bool) -> tuple[list[str], list[str]]:
        """(problems, warnings) of an image's annotations, and of its ground truth ``with_gt``
        (``size``: its image's (H, W), None when unreadable); each names the file and the id."""

    def record_digest(self, image_id: str, with_gt: bool) -> str:
        """Digest of everything the image's record is read from: its files and annotations."""

    def input_files(self, image_id: str, with_gt: bool) -> list[Path]:
        """The files of the image (workflow inputs: an edited one reruns what reads it)."""


def read_image(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB (grey, palette, CMYK and alpha images converted); a
    DatasetError naming the file when it is missing or cannot be decoded."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: image not found")
    try:
        with Image.open(path) as img:
            return np.array(img.convert("RGB"))  # writable: torch.from_numpy shares it
    except OSError as err:
        raise DatasetError(f"{path}: cannot decode image ({err})") from err


EXIF_ORIENTATIONS = {
    2: "mirrored",
    3: "rotated 180 degrees",
    4: "mirrored upside down",
    5: "mirrored and rotated 90 degrees",
    6: "rotated 90 degrees",
    7: "mirrored and rotated 270 degrees",
    8: "rotated 270 degrees",
}


def exif_orientation(path: str | Path) -> int:
    """The EXIF orientation tag of an image file: 1 (as stored) when it has none. Images are read
    as stored: the tag is ignored, as the authors' code and the VOC and COCO tools ignore it."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return int(img.getexif().get(0x0112, 1))
    except (OSError, ValueError):
        return 1


def reader(kind: str):
    """The reader module of ``dataset.kind``."""
    return importlib.import_module(READERS[kind])


def dynamic_imports(kind: str) -> dict[str, list[str]]:
    """What :func:`reader` imports by name for ``dataset.kind``, for a rule's code version
    (``irn_core.digest.code_digest``'s ``dynamic``)."""
    return {f"{__name__}:reader": [READERS[kind]]}


def open_dataset(ds: dict) -> Dataset:
    """The reader of the ``dataset`` config section."""
    return reader(ds["kind"]).open_dataset(ds)


def label_classes(ds: dict) -> list[str]:
    """The classes that index the dataset's labels: ``dataset.label_classes`` when set, else the
    reader's (VOC's 20 for ``voc``, the JSON's categories for ``coco``, the learned classes for
    the toy set)."""
    if ds.get("label_classes"):
        return list(ds["label_classes"])
    return reader(ds["kind"]).default_label_classes(ds)


def split_list_path(ds: dict, key: str) -> Path:
    """The file naming split ``dataset.<key>``: a list of ids (VOC) or a COCO JSON."""
    return Path(ds["root"]) / ds[key]


def split_ids(ds: dict, key: str) -> list[str]:
    """Image ids of split ``dataset.<key>``, in the file's order (duplicates kept)."""
    return reader(ds["kind"]).split_ids(split_list_path(ds, key))


def split_with_labels(data: Dataset, ids: list[str]) -> tuple[list[str], list[str]]:
    """Split ids into (with at least one learned label, without any)."""
    keep, empty = [], []
    for image_id in ids:
        (keep if data.labels(image_id).any() else empty).append(image_id)
    return keep, empty


def split_input_files(ds: dict, key: str, with_gt: bool) -> list[Path]:
    """The files a split's records are read from (for Snakemake inputs): the split file and each
    image's files that exist (a missing one is the dataset check's to report)."""
    path = split_list_path(ds, key)
    if not path.is_file():
        return [path]
    try:
        data = open_dataset(ds)
        ids = list(dict.fromkeys(split_ids(ds, key)))
        files = [f for i in ids for f in data.input_files(i, with_gt)]
    except DatasetError:  # the dataset check reports it, with every other problem
        return [path]
    return [path] + [f for f in files if f.is_file()]


def union_ids(*lists: list[str]) -> list[str]:
    """Ordered union of id lists."""
    return list(dict.fromkeys(i for ids in lists for i in ids))


__all__ = [
    "IGNORE",
    "READERS",
    "SPLIT_KEYS",
    "Dataset",
    "DatasetError",
    "dynamic_imports",
    "label_classes",
    "open_dataset",
    "read_image",
    "reader",
    "split_ids",
    "split_input_files",
    "split_list_path",
    "split_with_labels",
    "union_ids",
]
