"""HDF5 stage files (one file per stage, one group per image) and COCO JSON.

Every stage file is written to a temporary name and renamed when complete, and records its
provenance in file attributes.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from . import __version__


def config_digest(cfg) -> str:
    """sha256 (16 hex digits) of a JSON-serialisable config section."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]


def provenance(stage: str, run_name: str, cfg, **extra) -> dict:
    """The attributes every stage file carries."""
    attrs = {"stage": stage, "run_name": run_name, "config_digest": config_digest(cfg),
             "config_json": json.dumps(cfg, sort_keys=True, default=str),
             "irn_core_version": __version__,
             "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    attrs.update({k: str(v) for k, v in extra.items()})
    return attrs


@contextmanager
def atomic_h5(path: str | Path, attrs: dict):
    """Open a new HDF5 file at a temporary name; on success set ``attrs`` and rename to ``path``.

    If the block raises, the temporary file is removed and any earlier ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            yield f
            for k, v in attrs.items():
                f.attrs[k] = v
            f.attrs["complete"] = True
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def open_stage(path: str | Path) -> h5py.File:
    """Open a finished stage file read-only; a clear error when missing or incomplete."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: stage file not found (run its rule first)")
    f = h5py.File(path, "r")
    if not f.attrs.get("complete", False):
        f.close()
        raise ValueError(f"{path}: stage file is incomplete (written by an interrupted run)")
    return f


def write_group(f: h5py.File, name: str, arrays: dict, compression: str | None = None) -> None:
    """One group per image; each array one dataset."""
    g = f.create_group(name)
    for k, v in arrays.items():
        v = np.asarray(v)
        g.create_dataset(k, data=v, compression=compression if v.size > 64 else None)


def read_group(f: h5py.File, name: str) -> dict:
    if name not in f:
        raise KeyError(f"{f.filename}: no entry for image '{name}'")
    return {k: v[()] for k, v in f[name].items()}


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) bool -> bit-packed uint8 (N, ceil(H*W/8))."""
    n, h, w = masks.shape
    return np.packbits(masks.reshape(n, h * w), axis=1)


def unpack_masks(packed: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of pack_masks."""
    h, w = shape
    return np.unpackbits(packed, axis=1, count=h * w).reshape(-1, h, w).astype(bool)


def write_json(path: str | Path, obj) -> None:
    """JSON to a temporary name, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=float) + "\n")
    os.replace(tmp, path)


def rle_encode(mask: np.ndarray) -> dict:
    """COCO RLE of a (H, W) bool mask, with ``counts`` as str (JSON-ready)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def coco_instances(images: list[dict], instances: list[dict], classes: list[str]) -> dict:
    """COCO instances dict. images: {id, file_name, height, width}; instances: {image_id,
    mask (H, W) bool, class (0-based), score}. Category ids are class + 1."""
    from pycocotools import mask as mask_utils

    anns = []
    for k, inst in enumerate(instances, start=1):
        rle = rle_encode(inst["mask"])
        anns.append({"id": k, "image_id": inst["image_id"], "category_id": int(inst["class"]) + 1,
                     "segmentation": rle, "area": float(mask_utils.area(rle)),
                     "bbox": [float(v) for v in mask_utils.toBbox(rle)], "iscrowd": 0,
                     "score": float(inst["score"])})
    return {"images": images, "annotations": anns,
            "categories": [{"id": i + 1, "name": n} for i, n in enumerate(classes)]}
