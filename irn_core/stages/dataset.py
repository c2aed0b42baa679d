"""The dataset check: every file of a split read once, before any training.

Writes the split's manifest (ids in order, image sizes, image-level labels, a content digest of
the split's files, warnings); every stage that reads the split depends on it, so a changed image
or annotation reruns exactly those stages. All problems are reported at once, each with the
file, the image id and what is wrong.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..digest import config_digest, file_digest
from ..io import write_json
from ..progress import Progress, log
from ..voc import IGNORE, DatasetError, VOCDataset, read_split

NETWORK_STRIDE = 16  # the CAM network's output stride

# the files of one image, by whether the split needs ground-truth masks
IMAGE_FILES = ("JPEGImages/{}.jpg", "Annotations/{}.xml")
GT_FILES = ("SegmentationClass/{}.png", "SegmentationObject/{}.png")


def split_files(root: str | Path, ids: list[str], with_gt: bool) -> list[Path]:
    """The dataset files of a split's images."""
    patterns = IMAGE_FILES + (GT_FILES if with_gt else ())
    return [Path(root) / p.format(i) for i in ids for p in patterns]


def min_image_side(scales) -> int:
    """Smallest usable image side: at the smallest inference scale the stride-16 feature map
    still has one cell."""
    return math.ceil(NETWORK_STRIDE / min(scales))


def duplicate_ids(ids: list[str]) -> list[str]:
    seen, dup = set(), []
    for i in ids:
        if i in seen and i not in dup:
            dup.append(i)
        seen.add(i)
    return dup


def check_image(voc: VOCDataset, image_id: str, with_gt: bool, min_side: int) -> dict:
    """One image's record: size, labels, digest, and its problems / warnings (strings naming the
    file and the id)."""
    rec = {"problems": [], "warnings": []}
    path = voc.image_path(image_id)
    try:
        img = voc.load_image(image_id)
        h, w = img.shape[:2]
        rec["size"] = [int(h), int(w)]
        if min(h, w) < min_side:
            rec["problems"].append(f"{path}: image '{image_id}' is {w}x{h} px; the smallest usable side at the "
                                   f"configured scales (cam.scales) is {min_side} px")
    except DatasetError as err:
        rec["problems"].append(f"{err} (image '{image_id}')")
        h = w = None
    try:
        labels = voc.labels(image_id)
        rec["labels"] = [int(k) for k in np.nonzero(labels)[0]]
        if not rec["labels"]:
            rec["warnings"].append(f"{voc.root}/Annotations/{image_id}.xml: image '{image_id}' has no foreground "
                                   f"label (skipped for CAM training; its CAMs are empty)")
    except DatasetError as err:
        rec["problems"].append(f"{err} (image '{image_id}')")
    if with_gt:
        n = len(voc.classes)
        for folder in ("SegmentationClass", "SegmentationObject"):
            png = voc.root / folder / f"{image_id}.png"
            try:
                arr = voc._load_png(folder, image_id)
            except (DatasetError, OSError) as err:
                rec["problems"].append(f"{err} (image '{image_id}')")
                continue
            if h is not None and arr.shape != (h, w):
                rec["problems"].append(f"{png}: mask is {arr.shape[1]}x{arr.shape[0]} px, its image '{image_id}' "
                                       f"is {w}x{h} px")
            elif folder == "SegmentationClass":
                bad = sorted(set(np.unique(arr).tolist()) - set(range(n + 1)) - {IGNORE})
                if bad:
                    rec["problems"].append(f"{png}: label value(s) {bad} of image '{image_id}' are beyond the {n} "
                                           f"classes of dataset.classes (0 = background, 255 = void)")
        if not rec["problems"]:
            try:
                voc.instance_gt(image_id)
            except DatasetError as err:
                rec["problems"].append(f"{err} (image '{image_id}')")
    if not rec["problems"]:
        rec["digest"] = "".join(file_digest(p, 12) for p in split_files(voc.root, [image_id], with_gt))
    return rec


def check_dataset(cfg: dict, split_key: str, out_json: str, threads: int = 1) -> dict:
    """Check every image of split ``dataset.<split_key>``; write its manifest or raise a
    DatasetError listing every problem."""
    ds = cfg["dataset"]
    list_path = Path(ds["root"]) / ds[split_key]
    voc = VOCDataset(ds["root"], ds["classes"])
    ids = read_split(list_path)
    with_gt = split_key != "train_list"
    min_side = min_image_side(cfg["cam"]["scales"]) if "cam" in cfg else 1
    problems = [f"{list_path}: image id '{i}' is listed more than once" for i in duplicate_ids(ids)]
    unique = list(dict.fromkeys(ids))
    with ThreadPoolExecutor(max(1, threads)) as pool:
        records = list(Progress(pool.map(lambda i: check_image(voc, i, with_gt, min_side), unique),
                                f"check_dataset {split_key}", total=len(unique)))
    warnings = []
    for rec in records:
        problems += rec["problems"]
        warnings += rec["warnings"]
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise DatasetError(f"dataset check of {list_path} ({len(unique)} images): {len(problems)} problem(s)\n  "
                           f"{shown}{more}")
    for w in warnings:
        log(f"check_dataset: warning: {w}")
    images = {i: {"size": r["size"], "labels": r["labels"]} for i, r in zip(unique, records)}
    manifest = {"split": split_key, "list": str(list_path), "ids": unique, "images": images,
                "classes": list(ds["classes"]), "warnings": warnings,
                "digest": config_digest([unique, [r["digest"] for r in records], list(ds["classes"])])}
    write_json(out_json, manifest)
    log(f"check_dataset: {split_key}: {len(unique)} images, {len(warnings)} warning(s)")
    return manifest
