"""The authors' file layout (jiwoon-ahn/irn), for CAMs made elsewhere and for comparison scripts.

``step/make_cam.py`` saves one ``<id>.npy`` per image: a pickled dict with ``keys`` (the image's
foreground class indices, 0-based, a torch tensor), ``cam`` (K, ceil(H/4), ceil(W/4), a torch
tensor) and ``high_res`` (K, H, W, a numpy array), each map divided by its maximum (+1e-5).
Methods built on IRNet (AdvCAM, ReCAM, AMN, ...) write the same layout. ``make_sem_seg_labels``
saves ``<id>.png`` (class index map, 0 background) and ``make_ins_seg_labels`` ``<id>.npy``
(a dict of ``score`` (N,), ``mask`` (N, H, W) bool, ``class`` (N,) int).

A ``.npy`` holding a dict is a pickle: load only files you trust.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cam import strided_size

CAM_KEYS = ("keys", "cam", "high_res")
RANGE_TOLERANCE = 1e-3  # values may exceed 1 by float rounding of the normalisation


def _numpy(x) -> np.ndarray:
    """A torch tensor or array-like as a numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def read_public_cam(path: str | Path) -> dict:
    """The arrays of one public CAM file (torch tensors become numpy arrays). Raises ValueError
    naming the file when it is not such a dict."""
    path = Path(path)
    try:
        obj = np.load(path, allow_pickle=True)
    except Exception as err:
        raise ValueError(f"{path}: cannot be read as a .npy file ({type(err).__name__}: {err})") from err
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, dict):
        raise ValueError(
            f"{path}: expected a dict with {', '.join(CAM_KEYS)} (the public make_cam layout), "
            f"found {type(obj).__name__}"
        )
    missing = [k for k in CAM_KEYS if k not in obj]
    if missing:
        raise ValueError(f"{path}: the dict lacks {', '.join(missing)} (has {', '.join(map(str, obj))})")
    return {k: _numpy(obj[k]) for k in CAM_KEYS}


def write_public_cam(path: str | Path, keys: np.ndarray, cam_s4: np.ndarray, cam_full: np.ndarray) -> None:
    """One image's CAMs as the public make_cam writes them (``keys`` and ``cam`` as torch tensors,
    so the public scripts' ``.cuda()`` calls work on them)."""
    import torch

    np.save(
        path,
        {
            "keys": torch.from_numpy(np.asarray(keys, np.int64)),
            "cam": torch.from_numpy(np.ascontiguousarray(cam_s4, np.float32)),
            "high_res": np.ascontiguousarray(cam_full, np.float32),
        },
    )


def cam_problems(
    where: str,
    image_id: str,
    keys: np.ndarray,
    cam_s4: np.ndarray,
    cam_full: np.ndarray,
    size: tuple[int, int],
    labels: list[int],
    n_classes: int,
) -> list[str]:
    """What is wrong with one image's CAMs against its manifest record (size, labels)."""
    out = []
    pre = f"{where}: CAMs of image '{image_id}'"
    if keys.ndim != 1 or not np.issubdtype(keys.dtype, np.integer):
        return [f"{pre}: keys must be a 1-D integer array of class indices, got {keys.dtype} {keys.shape}"]
    if sorted(keys.tolist()) != sorted(labels):
        out.append(
            f"{pre}: keys {keys.tolist()} differ from the image's labels {sorted(labels)} "
            f"(0-based indices into dataset.classes, {n_classes} classes)"
        )
    h, w = size
    s4 = strided_size((h, w), 4)
    for name, arr, shape in (("cam", cam_s4, (len(keys), *s4)), ("high_res", cam_full, (len(keys), h, w))):
        if arr.shape != shape:
            out.append(
                f"{pre}: '{name}' has shape {arr.shape}, expected {shape} (image {w}x{h} px, "
                f"{len(keys)} key(s){', stride 4' if name == 'cam' else ''})"
            )
        elif not np.issubdtype(arr.dtype, np.floating):
            out.append(f"{pre}: '{name}' has dtype {arr.dtype}, expected floating point")
        elif arr.size:
            if not np.isfinite(arr).all():
                out.append(f"{pre}: '{name}' has non-finite values")
            elif arr.min() < -RANGE_TOLERANCE or arr.max() > 1 + RANGE_TOLERANCE:
                out.append(
                    f"{pre}: '{name}' values span [{arr.min():.4g}, {arr.max():.4g}], expected [0, 1] "
                    f"(each map divided by its maximum, as make_cam writes them)"
                )
    return out


def write_public_instances(path: str | Path, masks: np.ndarray, classes: np.ndarray, scores: np.ndarray) -> None:
    """Instance pseudo labels as make_ins_seg_labels saves them."""
    np.save(
        path,
        {
            "score": np.asarray(scores, np.float32),
            "mask": np.asarray(masks, bool),
            "class": np.asarray(classes, np.int64),
        },
    )


__all__ = ["cam_problems", "read_public_cam", "write_public_cam", "write_public_instances"]
