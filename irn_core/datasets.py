"""The dataset a run reads, behind one interface whatever its layout.

``dataset.kind`` names the reader module: ``voc`` (PASCAL VOC layout, which the generated toy set
uses too) or ``coco`` (an image folder and COCO instance JSON files). Each implements the
:class:`Dataset` protocol and three module functions (``open_dataset``, ``split_ids``,
``default_label_classes``) and is imported by name when first used, so a run loads, and its code
versions cover, its own reader only. No stage knows which one it reads.
"""

from __future__ import annotations

import importlib
import json
from functools import lru_cache
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


def pil_resize(arr: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """Resize a uint8 image (H, W, 3) or label map (H, W) to ``size`` (h, w) as the public code
    does: PIL bicubic on the uint8 image (before normalising), PIL nearest on labels (it samples
    ``floor((x + 0.5) * in / out)``, the centre of each output pixel)."""
    from PIL import Image

    if arr.shape[:2] == tuple(size):
        return arr
    resample = Image.NEAREST if nearest else Image.BICUBIC
    return np.asarray(Image.fromarray(arr).resize((size[1], size[0]), resample))


def fit_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """(H, W) scaled so that the longer side is at most ``max_side`` (rounded; unchanged when it
    fits or ``max_side`` is None)."""
    h, w = int(size[0]), int(size[1])
    if not max_side or max(h, w) <= max_side:
        return h, w
    scale = max_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


class Resized:
    """A dataset read at most ``max_side`` pixels on its longer side (``dataset.max_side``), so that
    one large photo cannot take a job's memory: images PIL bicubic, label maps and masks nearest,
    sizes to match. Images that fit are read as they are."""

    def __init__(self, data: Dataset, max_side: int):
        self.data, self.max_side = data, max_side

    def __getattr__(self, name: str):
        return getattr(self.data, name)

    def image_size(self, image_id: str) -> tuple[int, int]:
        return fit_size(self.data.image_size(image_id), self.max_side)

    def load_image(self, image_id: str) -> np.ndarray:
        img = self.data.load_image(image_id)
        return pil_resize(img, fit_size(img.shape[:2], self.max_side))

    def _labels(self, label: np.ndarray) -> np.ndarray:
        return pil_resize(label, fit_size(label.shape[:2], self.max_side), nearest=True)

    def semantic_gt(self, image_id: str) -> np.ndarray:
        return self._labels(self.data.semantic_gt(image_id))

    def object_map(self, image_id: str) -> np.ndarray:
        return self._labels(self.data.object_map(image_id))

    def instance_gt(self, image_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        masks, classes, void = self.data.instance_gt(image_id)
        size = fit_size(void.shape, self.max_side)
        resized = np.zeros((len(masks), *size), bool)
        for k, m in enumerate(masks):
            resized[k] = self._labels(m.astype(np.uint8)) > 0
        return resized, classes, self._labels(void.astype(np.uint8)) > 0


class ManifestDataset:
    """A dataset as check_dataset's manifests describe it: the ids, sizes, image-level labels and
    image files of their splits come from them, so a stage that needs no more parses no annotation
    file (a COCO JSON takes GBs and minutes at full size, and every cluster job would parse it
    again). Ground truth, and images of other splits, come from the reader, opened when first used.
    ``manifests``: the manifest file of each split passed, by split name."""

    def __init__(self, ds: dict, manifests: dict[str, str]):
        import json

        self.ds = ds
        self.classes = tuple(ds["classes"])
        self._reader: Dataset | None = None
        self._ids: dict[str, list[str]] = {}
        self._records: dict[str, dict] = {}
        label_classes = None
        for path in manifests.values():
            with open(path) as fh:
                m = json.load(fh)
            self._ids[m["split"]] = m["ids"]
            self._records.update(m["images"])
            label_classes = m.get("label_classes", label_classes)
        if label_classes is not None:
            self.label_classes = tuple(label_classes)

    @property
    def reader(self) -> Dataset:
        if self._reader is None:
            self._reader = open_dataset(self.ds)
        return self._reader

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.reader, name)

    def ids(self, key: str) -> list[str] | None:
        """The ids of split ``dataset.<key>`` when its manifest was passed (each once, in order)."""
        return self._ids.get(key)

    def image_path(self, image_id: str) -> Path:
        rec = self._records.get(image_id)
        if rec is None or "file" not in rec:
            return self.reader.image_path(image_id)
        return Path(self.ds["root"]) / rec["file"]

    def load_image(self, image_id: str) -> np.ndarray:
        rec = self._records.get(image_id)
        if rec is None or "file" not in rec:
            return self.reader.load_image(image_id)
        img = read_image(self.image_path(image_id))
        return pil_resize(img, tuple(rec["size"]))  # dataset.max_side, as the check recorded it

    def image_size(self, image_id: str) -> tuple[int, int]:
        rec = self._records.get(image_id)
        return tuple(rec["size"]) if rec else self.reader.image_size(image_id)

    def labels(self, image_id: str) -> np.ndarray:
        rec = self._records.get(image_id)
        if rec is None:
            return self.reader.labels(image_id)
        out = np.zeros(len(self.classes), dtype=np.float32)
        out[rec["labels"]] = 1.0
        return out


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
    """The reader of the ``dataset`` config section (read at most ``max_side`` px on a side)."""
    data = reader(ds["kind"]).open_dataset(ds)
    return Resized(data, ds["max_side"]) if ds.get("max_side") else data


@lru_cache(maxsize=2)
def _manifest_dataset(ds_json: str, manifests: tuple[tuple[str, str], ...]) -> ManifestDataset:
    return ManifestDataset(json.loads(ds_json), dict(manifests))


def stage_dataset(cfg: dict) -> Dataset:
    """The dataset a stage reads: through the manifests its rule passed (``cfg['manifests']``, set
    by irn_core.stages.rule_config), else through the reader."""
    if cfg.get("manifests"):
        return _manifest_dataset(json.dumps(cfg["dataset"], sort_keys=True), tuple(sorted(cfg["manifests"].items())))
    return open_dataset(cfg["dataset"])


def stage_ids(cfg: dict, key: str) -> list[str]:
    """The ids of split ``dataset.<key>`` a stage reads: from its manifest when the rule passed it
    (each id once: the check refused duplicates), else from the split file."""
    if cfg.get("manifests"):
        ids = stage_dataset(cfg).ids(key)
        if ids is not None:
            return ids
    return split_ids(cfg["dataset"], key)


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


def union_ids(*lists: list[str]) -> list[str]:
    """Ordered union of id lists."""
    return list(dict.fromkeys(i for ids in lists for i in ids))


__all__ = [
    "IGNORE",
    "READERS",
    "SPLIT_KEYS",
    "Dataset",
    "DatasetError",
    "ManifestDataset",
    "Resized",
    "dynamic_imports",
    "fit_size",
    "label_classes",
    "open_dataset",
    "pil_resize",
    "read_image",
    "reader",
    "split_ids",
    "split_list_path",
    "split_with_labels",
    "stage_dataset",
    "stage_ids",
    "union_ids",
]
