"""Stages of the dataset: the built-in toy set (prepare_toy), and the dataset check (check_dataset):
every file of a split read once, before any training.

The check writes the split's manifest (ids in order, image sizes, image-level labels, a content digest of
the split's files, warnings); every stage that reads the split depends on it, so a changed image
or annotation reruns exactly those stages. All problems are reported at once, each with the
file, the image id and what is wrong.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..datasets import EXIF_ORIENTATIONS, DatasetError, exif_orientation, fit_size, reader, split_ids, split_list_path
from ..digest import config_digest
from ..io import write_json
from ..progress import Progress, log
from ..toy import ToySettings, write_toy_dataset

# what each runner reads (irn_core.config.rule_settings)
SETTINGS = {
    "prepare_toy": ["toy"],
    # the smallest usable image size depends on the CAM inference scales (not for val)
    "check_dataset": ["split:{split}", "cam.scales if split != val"],
}
NETWORK_STRIDE = 16  # the CAM network's output stride


def prepare_toy(cfg: dict, stats_json: str) -> dict:
    """The toy dataset in VOC layout, in the folder of ``stats_json`` (its statistics and settings)."""
    folder = Path(stats_json).parent
    stats = write_toy_dataset(folder, ToySettings(**cfg["toy"]))
    log(f"prepare_toy: {stats['images']} images in {folder}, same-class touching in {stats['touching_fraction']:.0%}")
    write_json(stats_json, {**stats, "settings": cfg["toy"]})
    return stats


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


def check_image(data, image_id: str, with_gt: bool, min_side: int, max_side: int | None = None) -> dict:
    """One image's record: size, labels, digest, and its problems / warnings (strings naming the
    file and the id)."""
    rec = {"problems": [], "warnings": []}
    size = None
    try:
        img = data.load_image(image_id)
        h, w = img.shape[:2]
        size = (int(h), int(w))
        read = fit_size(size, max_side)  # the size the stages read it at (dataset.max_side)
        rec["size"] = list(read)
        path = data.image_path(image_id)
        rec["file"] = path.relative_to(data.root).as_posix() if path.is_relative_to(data.root) else str(path)
        if min(read) < min_side:
            at = f" (read at {read[1]}x{read[0]}: dataset.max_side {max_side})" if read != size else ""
            rec["problems"].append(
                f"{path}: image '{image_id}' is {w}x{h} px{at}; the smallest usable side at the "
                f"configured scales (cam.scales) is {min_side} px"
            )
        orientation = exif_orientation(path)
        if orientation != 1:
            shown = f"{h}x{w}" if orientation >= 5 else f"{w}x{h}"  # 5-8 turn the image by 90 degrees
            what = (
                f"{path}: image '{image_id}' carries EXIF orientation {orientation} (displayed "
                f"{EXIF_ORIENTATIONS.get(orientation, 'transformed')}, {shown} px; stored {w}x{h} px). Images are "
                f"read as stored, the tag ignored"
            )
            if with_gt:  # masks drawn on the displayed image would not match the pixels read
                rec["problems"].append(
                    f"{what}: its masks may have been drawn on the displayed image. Save the pixels as displayed "
                    f"(e.g. PIL.ImageOps.exif_transpose) or drop the tag, so that image and masks agree"
                )
            else:
                rec["warnings"].append(f"{what}: its CAMs and pseudo labels are in the stored orientation")
    except DatasetError as err:
        rec["problems"].append(f"{err} (image '{image_id}')")
    try:
        labels = data.labels(image_id)
        rec["labels"] = [int(k) for k in np.nonzero(labels)[0]]
        if not rec["labels"]:
            rec["warnings"].append(
                f"{data.label_file(image_id)}: image '{image_id}' has no label among "
                f"dataset.classes (skipped for CAM training; its CAMs are empty)"
            )
    except DatasetError as err:
        rec["problems"].append(f"{err} (image '{image_id}')")
    problems, warnings = data.check_record(image_id, size, with_gt)
    rec["problems"] += problems
    rec["warnings"] += warnings
    if not rec["problems"]:
        rec["digest"] = data.record_digest(image_id, with_gt)
    return rec


def check_dataset(cfg: dict, split_key: str, out_json: str, threads: int = 1, out_largest: str | None = None) -> dict:
    """Check every image of split ``dataset.<split_key>``; write its manifest or raise a
    DatasetError listing every problem."""
    ds = cfg["dataset"]
    list_path = split_list_path(ds, split_key)
    data = reader(ds["kind"]).open_dataset(ds)  # the files as they are (the manifest records the size read)
    ids = split_ids(ds, split_key)
    started = time.perf_counter()
    with_gt = split_key != "train_list"
    min_side = min_image_side(cfg["cam"]["scales"]) if "cam" in cfg else 1
    problems = [f"{list_path}: image id '{i}' is listed more than once" for i in duplicate_ids(ids)]
    unique = list(dict.fromkeys(ids))
    with ThreadPoolExecutor(max(1, threads)) as pool:
        records = list(
            Progress(
                pool.map(lambda i: check_image(data, i, with_gt, min_side, ds.get("max_side")), unique),
                f"check_dataset {split_key}",
                total=len(unique),
            )
        )
    warnings = []
    for rec in records:
        problems += rec["problems"]
        warnings += rec["warnings"]
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise DatasetError(
            f"dataset check of {list_path} ({len(unique)} images): {len(problems)} problem(s)\n  {shown}{more}"
        )
    for w in warnings:
        log(f"check_dataset: warning: {w}")
    seconds = time.perf_counter() - started
    images = {i: {"size": r["size"], "labels": r["labels"], "file": r["file"]} for i, r in zip(unique, records)}
    largest = max((r["size"] for r in records), key=lambda hw: hw[0] * hw[1])
    manifest = {
        "split": split_key,
        "list": str(list_path),
        "ids": unique,
        "images": images,
        "classes": list(ds["classes"]),
        "label_classes": list(data.label_classes),
        "warnings": warnings,
        "digest": config_digest([unique, [r["digest"] for r in records], list(ds["classes"])]),
        "largest": largest,  # (H, W) of the split's largest image as read: what a job's memory follows
        "seconds": round(seconds, 3),
        "images_per_second": round(len(unique) / max(seconds, 1e-9), 1),
        "threads": threads,
    }
    if out_largest:  # a few bytes that planning reads for a job's memory, not the whole manifest
        write_json(out_largest, {"split": split_key, "images": len(unique), "largest": largest})
    write_json(out_json, manifest)
    log(
        f"check_dataset: {split_key}: {len(unique)} images in {seconds:.1f} s ({len(unique) / max(seconds, 1e-9):.1f} "
        f"images/s, {threads} thread(s)), largest {largest[1]}x{largest[0]} px, {len(warnings)} warning(s)"
    )
    return manifest
