"""Class attention maps: multi-scale + flip inference, normalisation, CAM -> labels (METHOD.md 2)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def strided_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """ceil(H/s), ceil(W/s)."""
    return tuple((s + stride - 1) // stride for s in size)


def strided_up_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """The smallest multiple of ``stride`` that is >= each side."""
    return tuple(((s + stride - 1) // stride) * stride for s in size)


def normalise_max(cams: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Divide each map of (K, h, w) by its own maximum (+eps)."""
    return cams / (cams.flatten(1).max(dim=1).values[:, None, None] + eps)


def multiscale_raw(cam_fn, views: list[torch.Tensor], keys: torch.Tensor, flip: bool = True) -> list[torch.Tensor]:
    """The CAMs of one image at each inference scale, before they are merged: per view a
    (K, h', w') map of the ``keys`` classes at stride 16 of that view, the flip added in.

    cam_fn: (B, 3, h, w) -> (B, C, h', w') non-negative maps; views: the normalised image at each
    inference scale (``data.scaled_views``); keys: (K,) class indices to keep."""
    raw = []
    for view in views:
        x = view[None]
        if flip:
            x = torch.cat([x, x.flip(-1)])
        out = cam_fn(x)
        out = out[:1] + out[1:].flip(-1) if flip else out
        raw.append(out[0, keys])
    return raw


def merge_scales(raw: list[torch.Tensor], size: tuple[int, int], stride: int) -> torch.Tensor:
    """The CAMs of an image of ``size`` (H, W) from its per-scale maps (``multiscale_raw``), each
    normalised to max 1: stride 4, (K, ceil(H/4), ceil(W/4)); stride 1, (K, H, W) (upsampled to the
    next multiple of 16, then cropped, as the public make_cam does)."""
    size = tuple(int(v) for v in size)
    if stride not in (1, 4):
        raise ValueError(f"CAMs are kept at stride 4 and 1, not {stride}")
    target = strided_size(size, 4) if stride == 4 else strided_up_size(size, 16)
    k = raw[0].shape[0] if raw else 0
    if k == 0:  # an image without a foreground label has no maps
        return torch.zeros((0, *(target if stride == 4 else size)))
    # in float64, rounded to float32 at the end: torch's CPU bilinear kernel rounds differently with
    # the thread count (1 ulp in float32), and every reader must get the same maps whatever its threads
    acc = 0
    for out in raw:
        acc = acc + F.interpolate(out[None].double(), target, mode="bilinear", align_corners=False)[0]
    if stride == 1:
        acc = acc[:, : size[0], : size[1]]
    return normalise_max(acc).to(raw[0].dtype)


def multiscale_cam(
    cam_fn, views: list[torch.Tensor], keys: torch.Tensor, size: tuple[int, int], flip: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """CAMs of one image at stride 4 and at full resolution, each normalised to max 1:
    ((K, ceil(H/4), ceil(W/4)), (K, H, W)); see ``multiscale_raw`` and ``merge_scales``."""
    if len(keys) == 0:
        return merge_scales([], size, 4).to(views[0]), merge_scales([], size, 1).to(views[0])
    raw = multiscale_raw(cam_fn, views, keys, flip)
    return merge_scales(raw, size, 4), merge_scales(raw, size, 1)


def stage_cams(group, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(keys, CAMs at ``stride`` 4 or 1) of one image of a cams stage file: merged from its
    per-scale maps (``cam_raw_<i>``, what make_cam keeps), or as stored (``cam_s4`` / ``cam_full``
    of imported CAMs). ``group``: an HDF5 group or a dict of its arrays."""
    keys = np.asarray(group["keys"])
    stored = "cam_s4" if stride == 4 else "cam_full"
    if stored in group:
        return keys, np.asarray(group[stored])
    n = sum(1 for name in group if name.startswith("cam_raw_"))
    raw = [torch.from_numpy(np.asarray(group[f"cam_raw_{i}"])) for i in range(n)]
    return keys, merge_scales(raw, tuple(np.asarray(group["image_size"])), stride).numpy()


def cam_to_label(cams: np.ndarray, keys: np.ndarray, threshold: float) -> np.ndarray:
    """Label map from CAMs: argmax over [threshold, cams]; 0 = background, k+1 = class k.

    cams: (K, H, W) in [0, 1]; keys: (K,) class indices. Returns (H, W) uint8.
    """
    if cams.shape[0] == 0:
        return np.zeros(cams.shape[1:], np.uint8)
    best = cams.argmax(0)
    fg = cams.max(0) > threshold
    return np.where(fg, np.asarray(keys)[best] + 1, 0).astype(np.uint8)
