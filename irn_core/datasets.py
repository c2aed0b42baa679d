"""The dataset named by the ``dataset`` config section: VOC layout (the toy set included) or COCO.

``dataset.kind`` picks the reader; both give the same interface (ids of a split, image, image
labels, semantic and instance ground truth), so no stage knows which one it reads.
"""

from __future__ import annotations

from pathlib import Path

from .coco import COCODataset, category_names, coco_split_ids
from .voc import VOC_CLASSES, DatasetError, VOCDataset, read_split

SPLIT_KEYS = ("train_list", "eval_list", "val_list")


def label_classes(ds: dict) -> list[str]:
    """The classes that index the dataset's labels: ``dataset.label_classes`` when set, else
    VOC's 20 for ``kind: voc``, the JSON's categories for ``kind: coco``, the learned classes
    for the toy set."""
    if ds.get("label_classes"):
        return list(ds["label_classes"])
    if ds["kind"] == "voc":
        return list(VOC_CLASSES)
    if ds["kind"] == "coco":
        return category_names(Path(ds["root"]) / ds[next(k for k in SPLIT_KEYS if k in ds)])
    return list(ds["classes"])


def open_dataset_section(ds: dict) -> VOCDataset | COCODataset:
    if ds["kind"] == "coco":
        return COCODataset(ds["root"], ds["classes"], [ds[k] for k in SPLIT_KEYS if k in ds],
                           ds.get("image_dir") or ".")
    return VOCDataset(ds["root"], ds["classes"], label_classes(ds))


def split_list_path(ds: dict, key: str) -> Path:
    """The file naming split ``dataset.<key>``: a list of ids (VOC) or a COCO JSON."""
    return Path(ds["root"]) / ds[key]


def dataset_split_ids(ds: dict, key: str) -> list[str]:
    """Image ids of split ``dataset.<key>``, in the file's order (duplicates kept)."""
    path = split_list_path(ds, key)
    return coco_split_ids(path) if ds["kind"] == "coco" else read_split(path)


def split_input_files(ds: dict, key: str, with_gt: bool) -> list[Path]:
    """The files a split's records are read from (for Snakemake inputs): the split file and each
    image's files that exist (a missing one is the dataset check's to report)."""
    path = split_list_path(ds, key)
    if not path.is_file():
        return [path]
    try:
        data = open_dataset_section(ds)
        ids = list(dict.fromkeys(dataset_split_ids(ds, key)))
        files = [f for i in ids for f in data.files(i, with_gt)]
    except DatasetError:  # the dataset check reports it, with every other problem
        return [path]
    return [path] + [f for f in files if f.is_file()]


__all__ = ["SPLIT_KEYS", "dataset_split_ids", "label_classes", "open_dataset_section", "split_input_files",
           "split_list_path"]
