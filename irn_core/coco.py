"""COCO: instance JSON files and RLE masks, all read and written here, through pycocotools.

- :func:`load`: a COCO instances file, checked and indexed by pycocotools' ``COCO``, parsed once
  per process (and again when it changes);
- :func:`image_key`: our id of an image, its file name without folders and extension
  (``COCO_train2014_000000000009``): the one rule, for every file we read or write;
- :func:`rle_encode` / :func:`rle_decode`: masks as COCO RLE (``counts`` a str: JSON-ready);
- :func:`instances_json`: a COCO instances dict of our instances (pseudo labels, ground truth);
- :func:`segm_ap`: COCO mask AP of detections (``COCOeval``);
- :class:`COCODataset`: the :class:`irn_core.datasets.Dataset` reader of ``dataset.kind: coco``:
  image-level labels from the annotations, ground-truth masks decoded from polygons or RLE,
  ``iscrowd`` regions as void (ignored in evaluation), and a semantic ground truth painted from
  the instances (larger first, so a smaller object on top stays visible).
"""

from __future__ import annotations

import contextlib
import io
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from .datasets import IGNORE, SPLIT_KEYS, DatasetError, read_image
from .digest import config_digest, file_digest


def read_json(path: str | Path) -> dict:
    """The parsed JSON of a COCO instances file, checked to have its three lists (parsed once per
    process and again when it changes); a DatasetError naming the file when it is missing or
    malformed."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: COCO annotation file not found")
    return _read_json(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=2)
def _read_json(path: str, mtime_ns: int) -> dict:
    try:
        with open(path) as fh:
            data = json.load(fh)
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetError(f"{path}: not a COCO instances file (no 'images' list)")
    for key in ("annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(f"{path}: not a COCO instances file (no '{key}' list)")
    return data


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> COCO:
    coco = COCO()
    coco.dataset = read_json(path)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco.createIndex()
    return coco


def forget_parsed() -> None:
    """Drop the parsed files ``read_json`` and ``load`` keep."""
    _read_json.cache_clear()
    _load.cache_clear()


def load(path: str | Path) -> COCO:
    """A COCO instances file (``dataset`` holds the parsed JSON), parsed once per process and
    again when it changes; a DatasetError naming the file when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: COCO annotation file not found")
    return _load(str(path), path.stat().st_mtime_ns)


def image_key(file_name: str) -> str:
    """Our id of a COCO image: its file name without folders and extension."""
    return Path(file_name).stem


def category_names(path: str | Path) -> list[str]:
    """Category names in the order the file lists them."""
    return [c["name"] for c in load(path).dataset["categories"]]


def split_ids(path: str | Path) -> list[str]:
    """Image ids of a split's file, in its image order."""
    images = load(path).dataset["images"]
    if not images:
        raise DatasetError(f"{path}: the COCO file lists no image")
    return [image_key(im["file_name"]) for im in images]


def index_split(ds: dict, key: str, with_gt: bool) -> dict:
    """What the split index (irn_core.split_index) keeps of split ``dataset.<key>``, read from its
    JSON without building pycocotools' index: ids (in file order), the image file behind each (its
    annotations are in the JSON itself), the largest image (H, W) and the categories."""
    root = Path(ds["root"])
    path = root / ds[key]
    data = read_json(path)
    images = data["images"]
    if not images:
        raise DatasetError(f"{path}: the COCO file lists no image")
    dirs = [ds.get("image_dir") or "."] if isinstance(ds.get("image_dir") or ".", str) else list(ds["image_dir"])
    files = [path.relative_to(root).as_posix()]
    for im in images:
        name = im["file_name"]
        found = next((d for d in dirs if (root / d / name).is_file()), dirs[0])
        files.append((Path(found) / name).as_posix())
    sized = [im for im in images if isinstance(im.get("height"), int) and isinstance(im.get("width"), int)]
    largest = max(sized, key=lambda im: im["height"] * im["width"], default=None)
    return {
        "ids": [image_key(im["file_name"]) for im in images],
        "files": files,
        "largest": [largest["height"], largest["width"]] if largest else None,
        "categories": [c["name"] for c in data["categories"]],
    }


def rle_encode(mask: np.ndarray) -> dict:
    """COCO RLE of a (H, W) bool mask, ``counts`` as str (JSON-ready; pycocotools reads it)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def rle_decode(rle: dict) -> np.ndarray:
    """(H, W) bool mask of a COCO RLE (``counts`` str or bytes)."""
    return mask_utils.decode(rle).astype(bool)


def usable_segmentation(seg, image: dict) -> tuple[str | None, str, object]:
    """Whether an annotation's segmentation gives a usable mask on its ``image`` record:
    (kind, what, segmentation to use). kind None: usable as it is; "warning": what is dropped
    (polygons of fewer than 3 points; the whole annotation when no mask is left, segmentation
    None); "error": a segmentation that cannot be read (segmentation None)."""
    h, w = image.get("height"), image.get("width")
    if isinstance(seg, list):
        if not seg:
            return "warning", "has an empty segmentation (no polygon); dropped", None
        for poly in seg:
            if not isinstance(poly, list) or not all(isinstance(v, (int, float)) for v in poly):
                return "error", "has a polygon that is not a list of numbers", None
            if len(poly) % 2:
                return "error", f"has a polygon of {len(poly)} numbers (x, y pairs are needed)", None
        kept = [poly for poly in seg if len(poly) >= 6]
        if not kept:
            return "warning", "has no polygon of 3 points or more (6 numbers); dropped", None
        if len(kept) < len(seg):
            return "warning", f"has {len(seg) - len(kept)} polygon(s) of fewer than 3 points; they are dropped", kept
        return None, "", seg
    if isinstance(seg, dict) and isinstance(seg.get("counts"), (list, str, bytes)) and "size" in seg:
        if list(seg["size"]) != [h, w]:
            return "error", f"has an RLE of size {list(seg['size'])}, its image is {h}x{w} (height x width)", None
        try:
            rle = mask_utils.frPyObjects(seg, h, w) if isinstance(seg["counts"], list) else seg
            area = float(mask_utils.area(rle))
        except Exception as err:
            return "error", f"has an RLE that cannot be decoded ({err})", None
        if area == 0:
            return "warning", "has an RLE mask without a pixel; dropped", None
        return None, "", seg
    return "error", f"has a segmentation of unknown format ({type(seg).__name__}: polygons or RLE expected)", None


def annotation_mask(coco: COCO, ann: dict) -> np.ndarray:
    """(H, W) bool mask of an annotation (polygons, uncompressed or compressed RLE) at its
    image's size; an empty polygon list is an empty mask."""
    img = coco.imgs[ann["image_id"]]
    h, w = int(img["height"]), int(img["width"])
    seg = ann.get("segmentation", [])
    if isinstance(seg, list) and not seg:
        return np.zeros((h, w), bool)
    if not isinstance(seg, (list, dict)):
        raise ValueError(f"unknown segmentation format {type(seg).__name__}")
    mask = coco.annToMask(ann).astype(bool)
    if mask.shape != (h, w):
        raise ValueError(f"segmentation is {mask.shape[1]}x{mask.shape[0]} px, the image record says {w}x{h}")
    return mask


def instances_json(images: list[dict], instances: list[dict], classes: list[str]) -> dict:
    """COCO instances dict. images: {id, file_name, height, width}; instances: {image_id,
    mask (H, W) bool, class (0-based), score}. Category ids are class + 1."""
    anns = []
    for k, inst in enumerate(instances, start=1):
        rle = rle_encode(inst["mask"])
        anns.append(
            {
                "id": k,
                "image_id": inst["image_id"],
                "category_id": int(inst["class"]) + 1,
                "segmentation": rle,
                "area": float(mask_utils.area(rle)),
                "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                "iscrowd": 0,
                "score": float(inst["score"]),
            }
        )
    return {
        "images": images,
        "annotations": anns,
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(classes)],
    }


def segm_ap(gt_json: str | Path, results: list[dict]) -> float:
    """COCO mask AP (IoU 0.50:0.95) of detections (``image_id``, ``category_id``,
    ``segmentation`` RLE, ``score``) against a ground-truth instances file; 0 without detections."""
    from pycocotools.cocoeval import COCOeval

    if not results:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_json))
        e = COCOeval(gt, gt.loadRes(results), "segm")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return float(max(e.stats[0], 0.0))


class COCODataset:
    """Read-only view of a dataset in COCO layout.

    ``ann_files``: the COCO JSON of every split (train, eval, val; the same file may serve
    several). ``classes``: the categories to learn, a subset of the JSON's category names in the
    JSON's order; annotations of other categories are background to them.
    """

    def __init__(self, root: str | Path, classes, ann_files, image_dir: str | list[str]):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: dataset root not found")
        self.classes = tuple(classes)
        self.ann_files = list(dict.fromkeys(self.root / a for a in ann_files))
        dirs = [image_dir] if isinstance(image_dir, str) else list(image_dir)
        self.image_dirs = [self.root / d for d in dirs]
        self._records: dict[str, dict] = {}
        self._anns: dict[str, list[dict]] = {}  # the learned classes' annotations, with their "class"
        self._source: dict[str, Path] = {}
        self._problems: dict[str, list[str]] = {}  # annotations that cannot be read, by image
        self._warnings: dict[str, list[str]] = {}  # annotations (or polygons) dropped for want of a mask
        self._last: tuple | None = None  # (image id, decoded masks): ground truth is read twice per image
        self.label_classes: tuple[str, ...] = ()
        for path in self.ann_files:
            self._index(path)

    def _index(self, path: Path) -> None:
        coco = load(path)
        names = [c["name"] for c in coco.dataset["categories"]]
        if self.label_classes and tuple(names) != self.label_classes:
            raise DatasetError(
                f"{path}: categories {names} differ from those of {self.ann_files[0]} ({list(self.label_classes)})"
            )
        self.label_classes = tuple(names)
        missing = [c for c in self.classes if c not in names]
        if missing:
            raise DatasetError(
                f"{path}: class(es) {missing} of dataset.classes are not categories of this file "
                f"(its categories: {', '.join(names)})"
            )
        order = [names.index(c) for c in self.classes]
        if order != sorted(order):
            raise DatasetError(
                f"{path}: dataset.classes must follow the file's category order "
                f"({', '.join(n for n in names if n in self.classes)})"
            )
        cat_class = {
            c["id"]: (self.classes.index(c["name"]) if c["name"] in self.classes else -1)
            for c in coco.dataset["categories"]
        }
        for ann in coco.dataset["annotations"]:
            if ann.get("image_id") in coco.imgs and ann.get("category_id") not in cat_class:
                raise DatasetError(
                    f"{path}: annotation {ann.get('id')} has category_id {ann.get('category_id')}, "
                    f"which is not among the file's categories"
                )
        for im in coco.dataset["images"]:
            key = image_key(im["file_name"])
            if key in self._source and self._source[key] != path:
                other = self._records[key]
                if (other["file_name"], other.get("id")) != (im["file_name"], im.get("id")):
                    raise DatasetError(f"{path}: image '{key}' is also in {self._source[key]} with other annotations")
                continue
            self._records[key] = im
            self._source[key] = path
            self._anns[key], self._problems[key], self._warnings[key] = [], [], []
            for ann in coco.imgToAnns[im["id"]]:
                if cat_class[ann["category_id"]] < 0:
                    continue
                where = f"{path}: annotation {ann.get('id')} of image '{key}'"
                kind, what, segmentation = usable_segmentation(ann.get("segmentation", []), im)
                if kind == "error":
                    self._problems[key].append(f"{where} {what}")
                    continue
                if kind == "warning":
                    self._warnings[key].append(f"{where} {what}")
                if segmentation is not None:
                    self._anns[key].append(
                        {**ann, "segmentation": segmentation, "class": cat_class[ann["category_id"]]}
                    )

    def _record(self, image_id: str) -> dict:
        if image_id not in self._records:
            raise DatasetError(f"image '{image_id}' is in none of {', '.join(map(str, self.ann_files))}")
        return self._records[image_id]

    def image_path(self, image_id: str) -> Path:
        name = self._record(image_id)["file_name"]
        for folder in self.image_dirs:
            if (folder / name).is_file():
                return folder / name
        return self.image_dirs[0] / name

    def load_image(self, image_id: str) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        path = self.image_path(image_id)
        if not path.is_file():
            raise DatasetError(f"{path}: image not found (dataset.image_dir: {', '.join(map(str, self.image_dirs))})")
        return read_image(path)

    def image_size(self, image_id: str) -> tuple[int, int]:
        rec = self._record(image_id)
        return int(rec["height"]), int(rec["width"])

    def label_file(self, image_id: str) -> Path:
        return self._source[image_id] if image_id in self._source else self.ann_files[0]

    def labels(self, image_id: str) -> np.ndarray:
        """Multi-hot (C,) float32: the learned classes of the image's annotations (crowd included)."""
        self._record(image_id)
        out = np.zeros(len(self.classes), dtype=np.float32)
        for ann in self._anns[image_id]:
            out[ann["class"]] = 1.0
        return out

    def _masks(self, image_id: str):
        """(masks, classes, crowd flags) of the learned classes' annotations, larger first."""
        last = self._last
        if last is not None and last[0] == image_id:
            return last[1]
        coco = load(self._source[image_id])
        anns = self._anns[image_id]
        masks = []
        for ann in anns:
            try:
                masks.append(annotation_mask(coco, ann))
            except Exception as err:
                raise DatasetError(
                    f"{self._source[image_id]}: annotation {ann.get('id')} of image '{image_id}': {err}"
                ) from err
        order = sorted(range(len(anns)), key=lambda k: -int(masks[k].sum()))
        out = (
            [masks[k] for k in order],
            [anns[k]["class"] for k in order],
            [bool(anns[k].get("iscrowd", 0)) for k in order],
        )
        self._last = (image_id, out)
        return out

    def instance_gt(self, image_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Non-crowd instances of the learned classes: masks (N, H, W) bool, classes (N,), and
        void (H, W) bool: the crowd regions, ignored in evaluation."""
        h, w = self.image_size(image_id)
        masks, classes, crowd = self._masks(image_id)
        keep = [k for k in range(len(masks)) if not crowd[k]]
        void = np.zeros((h, w), bool)
        for k in range(len(masks)):
            if crowd[k]:
                void |= masks[k]
        out = np.stack([masks[k] for k in keep]) if keep else np.zeros((0, h, w), bool)
        return out, np.asarray([classes[k] for k in keep], np.int64), void

    def semantic_gt(self, image_id: str) -> np.ndarray:
        """(H, W) uint8 painted from the instances: 0 background, k+1 class k, 255 crowd regions
        not covered by a non-crowd instance."""
        h, w = self.image_size(image_id)
        masks, classes, crowd = self._masks(image_id)
        out = np.zeros((h, w), np.uint8)
        for m, cr in zip(masks, crowd):
            if cr:
                out[m & (out == 0)] = IGNORE
        for m, c, cr in zip(masks, classes, crowd):
            if not cr:
                out[m] = c + 1
        return out

    def object_map(self, image_id: str) -> np.ndarray:
        """(H, W) class-agnostic instance ids (1, 2, ... larger first), 0 none, 255 crowd."""
        h, w = self.image_size(image_id)
        masks, _, crowd = self._masks(image_id)
        out = np.zeros((h, w), np.uint8)
        for m, cr in zip(masks, crowd):
            if cr:
                out[m & (out == 0)] = IGNORE
        n = 0
        for m, cr in zip(masks, crowd):
            if not cr:
                n += 1
                out[m] = min(n, IGNORE - 1)
        return out

    def has_gt(self, image_id: str) -> bool:
        return image_id in self._records

    def input_files(self, image_id: str, with_gt: bool) -> list[Path]:
        """The image file (its annotations are in the split's JSON, an input of its own)."""
        return [self.image_path(image_id)]

    def record_digest(self, image_id: str, with_gt: bool) -> str:
        """The image file's digest and that of its record and annotations (canonical JSON)."""
        text = json.dumps([self._record(image_id), self._anns[image_id]], sort_keys=True)
        return file_digest(self.image_path(image_id), 12) + config_digest(text)[:12]

    def check_record(self, image_id: str, size: tuple[int, int] | None, with_gt: bool) -> tuple[list[str], list[str]]:
        """(problems, warnings) of an image's annotations (usable_segmentation: dropped ones are
        warnings), and with_gt of its size in the JSON and its decoded masks."""
        rec = self._record(image_id)
        problems, warnings = list(self._problems[image_id]), list(self._warnings[image_id])
        if not with_gt:
            return problems, warnings
        if size is not None and (int(rec.get("height", -1)), int(rec.get("width", -1))) != tuple(size):
            problems.append(
                f"{self._source[image_id]}: image '{image_id}' is {rec.get('width')}x{rec.get('height')} px in the "
                f"JSON, its file {self.image_path(image_id)} is {size[1]}x{size[0]} px"
            )
            return problems, warnings
        try:
            self._masks(image_id)
        except DatasetError as err:
            problems.append(str(err))
        return problems, warnings


def open_dataset(ds: dict) -> COCODataset:
    """The reader of a ``dataset`` config section of kind ``coco``."""
    return COCODataset(ds["root"], ds["classes"], [ds[k] for k in SPLIT_KEYS if k in ds], ds.get("image_dir") or ".")


def default_label_classes(ds: dict) -> list[str]:
    """The categories of the first split's JSON, in its order."""
    return category_names(Path(ds["root"]) / ds[next(k for k in SPLIT_KEYS if k in ds)])
