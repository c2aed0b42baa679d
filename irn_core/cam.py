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


def multiscale_cam(
    cam_fn, views: list[torch.Tensor], keys: torch.Tensor, size: tuple[int, int], flip: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """CAMs of one image at stride 4 and at full resolution, each normalised to max 1.

    cam_fn: (B, 3, h, w) -> (B, C, h', w') non-negative maps; views: the normalised image at each
    inference scale (``data.scaled_views``); size: the image's (H, W); keys: (K,) class indices
    to keep. Returns ((K, ceil(H/4), ceil(W/4)), (K, H, W)).
    """
    size = tuple(size)
    s4, up16 = strided_size(size, 4), strided_up_size(size, 16)
    if len(keys) == 0:  # an image without a foreground label has no maps
        return views[0].new_zeros((0, *s4)), views[0].new_zeros((0, *size))
    acc4 = acc_full = 0
    for view in views:
        x = view[None]
        if flip:
            x = torch.cat([x, x.flip(-1)])
        out = cam_fn(x)
        out = out[:1] + out[1:].flip(-1) if flip else out
        out = out[:, keys]
        acc4 = acc4 + F.interpolate(out, s4, mode="bilinear", align_corners=False)[0]
        acc_full = acc_full + F.interpolate(out, up16, mode="bilinear", align_corners=False)[0]
    acc_full = acc_full[:, : size[0], : size[1]]
    return normalise_max(acc4), normalise_max(acc_full)


def cam_to_label(cams: np.ndarray, keys: np.ndarray, threshold: float) -> np.ndarray:
    """Label map from CAMs: argmax over [threshold, cams]; 0 = background, k+1 = class k.

    cams: (K, H, W) in [0, 1]; keys: (K,) class indices. Returns (H, W) uint8.
    """
    if cams.shape[0] == 0:
        return np.zeros(cams.shape[1:], np.uint8)
    best = cams.argmax(0)
    fg = cams.max(0) > threshold
    return np.where(fg, np.asarray(keys)[best] + 1, 0).astype(np.uint8)
