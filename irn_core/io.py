"""HDF5 stage files (one file per stage, one group per image) and JSON files.

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
    depend on content only; ``created`` is the one time stamp, kept apart from them. When the
    settings name the dataset's classes, ``classes`` holds them (JSON), for the ``keys`` and
    ``classes`` datasets."""
    attrs = {
        "stage": stage,
        "run_name": run_name,
        "config_digest": config_digest(cfg),
        "config_json": json.dumps(cfg, sort_keys=True, default=str),
        "irn_core_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    classes = cfg.get("dataset", {}).get("classes") if isinstance(cfg, dict) else None
    if classes is not None:
        attrs["classes"] = json.dumps(list(classes))
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
        pid = tmp.name[len(f".{path.name}.tmp") :]
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
            raise OSError(
                errno.ENOSPC,
                f"no space left on device while writing {path} (the partial file is "
                f"removed; free some space and rerun)",
            ) from err
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
    with atomic_path(path) as tmp, h5py.File(tmp, "w", libver="latest") as f:  # compact groups: ~0.5 KB an image
        f.irn_digest = ArrayDigest()
        yield f
        for k, v in attrs.items():
            f.attrs[k] = v
        f.attrs["content_digest"] = f.irn_digest.hexdigest()
        f.attrs["complete"] = True


def open_stage(path: str | Path) -> h5py.File:
    """Open a finished stage file read-only. Errors name the file and say which it is: missing,
    not an HDF5 file, an HDF5 file that is not a stage file of this pipeline, or incomplete (the
    temporary file of an interrupted writer, or a file without its closing mark)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: stage file not found (run its rule first)")
    if not h5py.is_hdf5(path):
        raise ValueError(f"{path}: not an HDF5 file, so not a stage file of this pipeline")
    f = h5py.File(path, "r")
    if not f.attrs.get("complete", False):
        stage = f.attrs.get("stage")
        f.close()
        if path.name.startswith(".") and ".tmp" in path.name:
            raise ValueError(f"{path}: stage file is incomplete (the temporary file of an interrupted writer)")
        if stage is None:
            raise ValueError(f"{path}: an HDF5 file, but not a stage file of this pipeline (it has no provenance)")
        raise ValueError(f"{path}: stage file of {stage} is incomplete (written by an interrupted run)")
    if "shards" in f.attrs:
        return ShardedStage(f, path)
    return f


class ShardedStage:
    """A stage file written in shards, read through its index (irn_core.shards): the index's
    attributes, and each image's group from its shard file, each shard opened once. (The index's
    external links serve h5py and other HDF5 tools, but HDF5 reopens the shard file at every
    access through them: 0.65 ms an image, a minute per pass at COCO size.) Read like an
    h5py.File: ``f[image_id]``, ``image_id in f``, iteration in index order, ``attrs``."""

    def __init__(self, index: h5py.File, path: Path):
        self.filename, self.attrs, self._index = str(path), index.attrs, index
        self._files = [h5py.File(path.parent / rel, "r") for rel in json.loads(index.attrs["shards"])]
        self._where = {name: f for f in self._files for name in f}

    def __getitem__(self, image_id: str) -> h5py.Group:
        if image_id not in self._where:
            raise KeyError(f"{self.filename}: no group for image '{image_id}'")
        return self._where[image_id][image_id]

    def __contains__(self, image_id: str) -> bool:
        return image_id in self._where

    def __iter__(self):
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def keys(self):
        return self._where.keys()

    def get(self, image_id: str, default=None):
        return self[image_id] if image_id in self._where else default

    def items(self):
        return ((name, self[name]) for name in self._where)

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._index.close()

    def __enter__(self) -> ShardedStage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class StageArrays:
    """One array of each image of a stage file, read when asked for: ``arrays[image_id]`` is
    ``<image_id>/<name>``. A training stage holds one batch's label maps at a time, not its split's
    (2 GB of relation labels at VOC train_aug size). The file is opened once per process, so each
    DataLoader worker reads through its own handle."""

    def __init__(self, path: str | Path, name: str):
        self.path, self.name = str(path), name
        open_stage(self.path).close()  # a missing or incomplete file is an error now, not in a worker
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def __getitem__(self, image_id: str) -> np.ndarray:
        if self._pid != os.getpid():
            self._file, self._pid = open_stage(self.path), os.getpid()
        if image_id not in self._file:
            raise KeyError(f"{self.path}: no group for image '{image_id}'")
        return self._file[image_id][self.name][()]

    def __getstate__(self) -> dict:  # a spawned worker opens its own handle
        return {**self.__dict__, "_file": None, "_pid": None}


# what each dataset of the stage files holds: its ``meaning`` and, where it applies, ``stride``
# (image pixels per map cell), ``units`` and ``range``; write_group stores them as attributes
INFO = {
    "keys": {"meaning": "class indices (0-based, into the file's `classes` attribute) of the maps, in map order"},
    "cam_s4": {
        "meaning": "class activation map of each key, multi-scale + flip, divided by its maximum",
        "stride": 4,
        "range": [0.0, 1.0],
    },
    "cam_raw": {
        "meaning": "class activation map of each key at one inference scale (the i-th of cam.scales), the flip "
        "added in; cam_s4 and cam_full are merged from these (irn_core.cam.stage_cams)",
        "stride": "16 of the scaled image",
    },
    "cam_full": {
        "meaning": "class activation map of each key at full resolution, divided by its maximum",
        "stride": 1,
        "range": [0.0, 1.0],
    },
    "relation_label": {"meaning": "confident regions for IRNet: 0 background, k+1 class k, 255 unsure", "stride": 1},
    "boundary": {"meaning": "class-boundary probability (image and flip)", "stride": 4, "range": [0.0, 1.0]},
    "disp": {
        "meaning": "displacement (dy, dx) towards the instance centroid, mean displacement removed",
        "stride": 4,
        "units": "stride-4 pixels",
    },
    "image_size": {"meaning": "(H, W) of the image", "units": "pixels"},
    "sem_walk": {
        "meaning": "random walk of each key's CAM on the boundary map (the sum of its instance walks), before "
        "upsampling, normalising and any background threshold",
        "stride": 4,
    },
    "ins_walk": {
        "meaning": "random walk of each class's CAM inside each region of the class-agnostic instance map, class "
        "by class (map m: class `map_classes[m]`), before upsampling, normalising and any background threshold",
        "stride": 4,
    },
    "map_classes": {"meaning": "class index (0-based, into the file's `classes` attribute) of each ins_walk map"},
    "label": {"meaning": "semantic pseudo label: 0 background, k+1 class k", "stride": 1},
    "instances": {"meaning": "instance id map: 0 no instance, i instance i-1 of `classes` / `scores`", "stride": 1},
    "classes": {"meaning": "class index (0-based, into the file's `classes` attribute) of each instance"},
    "scores": {"meaning": "confidence of each instance"},
}


def write_group(
    f: h5py.File,
    name: str,
    arrays: dict,
    compression: str | None = None,
    info: dict | None = None,
    shuffle: bool = False,
) -> None:
    """One group per image; each array one dataset, with its attributes from ``INFO`` (by
    dataset name; ``info`` overrides by name). ``compression`` (and the byte ``shuffle`` filter,
    which helps it on floats) applies to arrays of more than 64 values."""
    g = f.create_group(name)
    digest = getattr(f, "irn_digest", None)
    for k, v in arrays.items():
        v = np.asarray(v)
        if digest is not None:
            digest.update(f"{name}/{k}", v)
        packed = compression is not None and v.size > 64
        d = g.create_dataset(k, data=v, compression=compression if packed else None, shuffle=shuffle and packed)
        for a, value in ((info or {}).get(k) or INFO.get(k, {})).items():
            d.attrs[a] = json.dumps(value) if isinstance(value, (list, dict)) else value


def write_instances(f: h5py.File, image_id: str, masks: np.ndarray, classes: np.ndarray, scores: np.ndarray) -> None:
    """Instances of one image as plain arrays: a uint16 instance id map (0 = none, i = instance
    i-1), the class and the score of each instance. Masks must not overlap."""
    masks = np.asarray(masks, bool)
    if masks.shape[0] and masks.sum(0).max() > 1:
        raise ValueError(f"{image_id}: instance masks overlap; an id map cannot hold them")
    ids = np.zeros(masks.shape[1:], np.uint16)
    for i, m in enumerate(masks, start=1):
        ids[m] = i
    write_group(
        f,
        image_id,
        {"instances": ids, "classes": np.asarray(classes, np.int64), "scores": np.asarray(scores, np.float32)},
        compression="gzip",
    )


def read_instances(f: h5py.File, image_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(masks (N, H, W) bool, classes (N,), scores (N,)) of one image of an instance file."""
    g = read_group(f, image_id)
    classes = g["classes"]
    masks = g["instances"][None] == np.arange(1, len(classes) + 1, dtype=np.uint16)[:, None, None]
    return masks, classes, g["scores"]


def read_group(f: h5py.File, name: str) -> dict:
    if name not in f:
        raise KeyError(f"{f.filename}: no entry for image '{name}'")
    return {k: v[()] for k, v in f[name].items()}


def write_json(path: str | Path, obj) -> None:
    """Strict JSON (a NaN, e.g. the IoU of a class absent from the data, is written as null) to a
    temporary name, then rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(json_ready(obj), indent=2, sort_keys=True, allow_nan=False) + "\n")


def json_ready(obj):
    """``obj`` with numpy scalars and arrays as Python values and non-finite floats as None."""
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, str) else k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj
