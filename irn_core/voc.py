"""PASCAL VOC layout: split lists, XML image-level labels, palette PNG masks.

One reader serves the built-in toy set and real VOC 2012 (with SBD's ``train_aug`` list).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .datasets import IGNORE, DatasetError, label_classes, read_image
from .digest import file_digest

VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


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

    ``classes`` are the foreground classes to learn, in index order (index 0 = first foreground
    class; label maps use 0 for background and ``k + 1`` for class ``k``). ``label_classes`` are
    the classes that index the dataset's PNGs (value ``v`` = ``label_classes[v - 1]``) and name
    its XML objects; default: ``classes``. Objects of a label class that is not learned are
    background to the learned classes: absent from image labels and ground-truth instances.
    """

    def __init__(
        self,
        root: str | Path,
        classes: list[str] | tuple[str, ...],
        label_classes: list[str] | tuple[str, ...] | None = None,
    ):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: dataset root not found")
        self.classes = tuple(classes)
        self.label_classes = tuple(label_classes) if label_classes else self.classes
        unknown = [c for c in self.classes if c not in self.label_classes]
        if unknown:
            raise DatasetError(
                f"{self.root}: class(es) {unknown} of dataset.classes are not among the dataset's label "
                f"classes ({', '.join(self.label_classes)})"
            )
        self._index = {name: i for i, name in enumerate(self.classes)}
        # PNG value -> learned label value (0 background, k + 1 class k); 255 stays void
        self._lut = np.zeros(256, np.uint8)
        for v, name in enumerate(self.label_classes, start=1):
            self._lut[v] = self._index[name] + 1 if name in self._index else 0
        self._lut[IGNORE] = IGNORE

    def image_path(self, image_id: str) -> Path:
        return self.root / "JPEGImages" / f"{image_id}.jpg"

    def load_image(self, image_id: str) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        return read_image(self.image_path(image_id))

    def image_size(self, image_id: str) -> tuple[int, int]:
        """(H, W) without decoding the pixels."""
        with Image.open(self.image_path(image_id)) as img:
            return img.size[1], img.size[0]

    def labels(self, image_id: str) -> np.ndarray:
        """Multi-hot (C,) float32 image-level label from the XML annotation (learned classes)."""
        path = self.root / "Annotations" / f"{image_id}.xml"
        out = np.zeros(len(self.classes), dtype=np.float32)
        for obj in read_annotation(path):
            if obj.name not in self.label_classes:
                raise DatasetError(f"{path}: unknown class '{obj.name}' (known: {', '.join(self.label_classes)})")
            if obj.name in self._index:
                out[self._index[obj.name]] = 1.0
        return out

    def label_file(self, image_id: str) -> Path:
        """The file an image's image-level labels come from (named in warnings)."""
        return self.root / "Annotations" / f"{image_id}.xml"

    def _load_png(self, folder: str, image_id: str) -> np.ndarray:
        path = self.root / folder / f"{image_id}.png"
        if not path.is_file():
            raise DatasetError(f"{path}: ground-truth mask not found")
        with Image.open(path) as img:
            if img.mode != "P" and img.mode != "L":
                raise DatasetError(f"{path}: expected a palette or grey PNG, got mode {img.mode}")
            return np.asarray(img, dtype=np.uint8)

    def raw_semantic(self, image_id: str) -> np.ndarray:
        """The SegmentationClass PNG as stored (values index ``label_classes``)."""
        return self._load_png("SegmentationClass", image_id)

    def semantic_gt(self, image_id: str) -> np.ndarray:
        """(H, W) uint8: 0 background, k+1 learned class k, 255 void."""
        raw = self.raw_semantic(image_id)
        top = int(raw[raw != IGNORE].max(initial=0))
        if top > len(self.label_classes):
            raise DatasetError(
                f"{self.root}/SegmentationClass/{image_id}.png: label value {top} is beyond the "
                f"{len(self.label_classes)} label classes (0 = background, 255 = void)"
            )
        return self._lut[raw]

    def _instances(self, image_id: str):
        obj = self._load_png("SegmentationObject", image_id)
        cls = self.raw_semantic(image_id)
        out = []
        for i in np.unique(obj):
            if i in (0, IGNORE):
                continue
            values = cls[obj == i]
            values = values[(values != 0) & (values != IGNORE)]
            if values.size == 0:
                raise DatasetError(f"{self.root}/SegmentationObject/{image_id}.png: instance without a class")
            learned = int(self._lut[min(int(np.bincount(values).argmax()), 255)]) - 1
            out.append((int(i), learned))
        return obj, out

    def instance_gt(self, image_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ground-truth instances of the learned classes: masks (N, H, W) bool, classes (N,) int
        (0-based), void (H, W) bool."""
        obj, inst = self._instances(image_id)
        inst = [(i, c) for i, c in inst if c >= 0]
        masks = np.stack([obj == i for i, _ in inst]) if inst else np.zeros((0,) + obj.shape, bool)
        return masks, np.asarray([c for _, c in inst], dtype=np.int64), obj == IGNORE

    def object_map(self, image_id: str) -> np.ndarray:
        """(H, W) class-agnostic instance ids of the learned classes: 0 none, 255 void."""
        obj, inst = self._instances(image_id)
        out = obj.copy()
        for i, c in inst:
            if c < 0:
                out[obj == i] = 0
        return out

    def has_gt(self, image_id: str) -> bool:
        return (self.root / "SegmentationClass" / f"{image_id}.png").is_file()

    def gt_files(self, image_id: str) -> list[Path]:
        return [self.root / folder / f"{image_id}.png" for folder in ("SegmentationClass", "SegmentationObject")]

    def input_files(self, image_id: str, with_gt: bool) -> list[Path]:
        """The files an image's record is read from."""
        return [self.image_path(image_id), self.label_file(image_id)] + (self.gt_files(image_id) if with_gt else [])

    def record_digest(self, image_id: str, with_gt: bool) -> str:
        return "".join(file_digest(p, 12) for p in self.input_files(image_id, with_gt))

    def check_record(self, image_id: str, size: tuple[int, int] | None, with_gt: bool) -> tuple[list[str], list[str]]:
        """(problems, warnings) of an image's ground truth, with_gt (reads every file): PNG modes,
        sizes and values, instances without a class; a class named in the XML without a pixel in
        the class PNG is a warning. Without ground truth the XML is read by ``labels``."""
        problems: list[str] = []
        if not with_gt:
            return problems, []
        for folder in ("SegmentationClass", "SegmentationObject"):
            png = self.root / folder / f"{image_id}.png"
            try:
                arr = self._load_png(folder, image_id)
            except (DatasetError, OSError) as err:
                problems.append(f"{err} (image '{image_id}')")
                continue
            if size is not None and arr.shape != tuple(size):
                problems.append(
                    f"{png}: mask is {arr.shape[1]}x{arr.shape[0]} px, its image '{image_id}' is {size[1]}x{size[0]} px"
                )
            elif folder == "SegmentationClass":
                n = len(self.label_classes)
                bad = sorted(set(np.unique(arr).tolist()) - set(range(n + 1)) - {IGNORE})
                if bad:
                    what = "dataset.label_classes" if self.label_classes != self.classes else "dataset.classes"
                    problems.append(
                        f"{png}: label value(s) {bad} of image '{image_id}' are beyond the {n} "
                        f"classes of {what} (0 = background, 255 = void)"
                    )
        if problems:
            return problems, []
        try:
            self.instance_gt(image_id)
        except DatasetError as err:
            return [f"{err} (image '{image_id}')"], []
        try:
            named = np.nonzero(self.labels(image_id))[0]
        except DatasetError:
            return problems, []  # the image's labels are checked, and reported, on their own
        present = set(np.unique(self.semantic_gt(image_id)).tolist())
        missing = [self.classes[k] for k in named if k + 1 not in present]
        if not missing:
            return problems, []
        png, xml = f"{self.root}/SegmentationClass/{image_id}.png", self.label_file(image_id)
        return problems, [
            f"{png}: class(es) {missing} named in {xml} have no pixel in the class PNG of image '{image_id}' (no "
            f"ground-truth region: they count as absent from its masks)"
        ]


def open_dataset(ds: dict) -> VOCDataset:
    """The reader of a ``dataset`` config section of kind ``voc`` or ``toy``."""
    return VOCDataset(ds["root"], ds["classes"], label_classes(ds))


def default_label_classes(ds: dict) -> list[str]:
    """VOC's 20 classes for ``kind: voc``; the learned classes for the toy set."""
    return list(VOC_CLASSES) if ds["kind"] == "voc" else list(ds["classes"])


split_ids = read_split  # the ids of a split file


def index_split(ds: dict, key: str, with_gt: bool) -> dict:
    """What the split index (irn_core.split_index) keeps of split ``dataset.<key>``: its ids (in
    list order) and the files behind them, relative to the root (the files need not exist: a
    missing one is check_dataset's to report). The list alone is read."""
    ids = read_split(Path(ds["root"]) / ds[key])
    folders = ["JPEGImages/{}.jpg", "Annotations/{}.xml"]
    if with_gt:
        folders += ["SegmentationClass/{}.png", "SegmentationObject/{}.png"]
    files = [ds[key]] + [f.format(i) for i in dict.fromkeys(ids) for f in folders]
    return {"ids": ids, "files": files, "largest": None, "categories": None}
