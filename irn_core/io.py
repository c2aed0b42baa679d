"""HDF5 stage files (one file per stage, one group per image) and COCO JSON.

Every stage file is written to a temporary name and renamed when complete, and records its
provenance in file attributes.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from . import __version__
from .digest import ArrayDigest, config_digest

# below this many free bytes a failed write is reported as a full disk
DISK_FULL_MARGIN = 1 << 20


def provenance(stage: str, run_name: str, cfg, **extra) -> dict:
    """The attributes every stage file carries. ``config_digest`` and the ``extra`` input digests
    depend on content only; ``created`` is the one time stamp, kept apart from them."""
    attrs = {"stage": stage, "run_name": run_name, "config_digest": config_digest(cfg),
             "config_json": json.dumps(cfg, sort_keys=True, default=str),
             "irn_core_version": __version__,
             "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    attrs.update({k: str(v) for k, v in extra.items()})
    return attrs


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove ``.<name>.tmp<pid>`` files of ``path`` left by writers that no longer run (a killed
    job); returns what was removed."""
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for tmp in path.parent.glob(f".{path.name}.tmp*"):
        pid = tmp.name[len(f".{path.name}.tmp"):]
        if pid.isdigit() and (int(pid) == os.getpid() or not _pid_alive(int(pid))):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _disk_full(err: BaseException, folder: Path) -> bool:
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    # torch.save reports a short write as "unexpected pos ..." without the errno
    try:
        return isinstance(err, (OSError, RuntimeError)) and shutil.disk_usage(folder).free < DISK_FULL_MARGIN
    except OSError:
        return False


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary name beside ``path``; when the block succeeds it is renamed to ``path``.

    A failed or interrupted block leaves the earlier ``path`` untouched and no temporary file
    (one left by a killed process is removed by the next writer of ``path``); a full disk is
    reported as such, naming the file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as err:
        if _disk_full(err, path.parent):
            tmp.unlink(missing_ok=True)
            raise OSError(errno.ENOSPC, f"no space left on device while writing {path} (the partial file is "
                                        f"removed; free some space and rerun)") from err
        raise
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_h5(path: str | Path, attrs: dict):
    """Open a new HDF5 file at a temporary name; on success set ``attrs`` and rename to ``path``.

    If the block raises, the temporary file is removed and any earlier ``path`` is untouched.
    The file's ``content_digest`` attribute is a digest of every array written through
    ``write_group`` (names, dtypes, shapes, values), equal for equal content.
    """
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.irn_digest = ArrayDigest()
            yield f
            for k, v in attrs.items():
                f.attrs[k] = v
            f.attrs["content_digest"] = f.irn_digest.hexdigest()
            f.attrs["complete"] = True


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
    digest = getattr(f, "irn_digest", None)
    for k, v in arrays.items():
        v = np.asarray(v)
        if digest is not None:
            digest.update(f"{name}/{k}", v)
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
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(x):
    if isinstance(x, np.integer):
        return int(x)
    return float(x)


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
