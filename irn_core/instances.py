"""Instances from IRNet's outputs (METHOD.md 5a, 5c, 5d): centroid search, grouping,
instance-wise CAMs, and pseudo labels. Vectorised torch, on any device."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def find_centroids(disp: torch.Tensor, iterations: int = 300) -> torch.Tensor:
    """Move every pixel x <- x + D(x) (bilinear D, clamped to the map) ``iterations`` times.

    disp: (2, h, w) float, stride-4 pixels (dy, dx). Returns (2, h, w) long, rounded (y, x).
    Bilinear sampling of in-map points is ``grid_sample`` with ``align_corners=True``.
    """
    _, h, w = disp.shape
    d = disp.float()[None]
    cy, cx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32, device=disp.device),
        torch.arange(w, dtype=torch.float32, device=disp.device),
        indexing="ij",
    )
    pos = torch.stack([cx, cy], -1)[None]  # 1, h, w, 2 as (x, y)
    scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=disp.device)
    upper = torch.tensor([w - 1.0, h - 1.0], device=disp.device)
    zero = torch.zeros(2, device=disp.device)
    for _ in range(iterations):
        step = F.grid_sample(d, pos * scale - 1, mode="bilinear", padding_mode="border", align_corners=True)
        pos = torch.minimum(torch.maximum(pos + step[0].flip(0).permute(1, 2, 0)[None], zero), upper)
    return pos[0].round().long().permute(2, 0, 1).flip(0)


def connected_components(mask: torch.Tensor) -> torch.Tensor:
    """4-connected components of each (h, w) mask in a (B, h, w) bool batch.

    Returns (B, h, w) long: 0 outside the masks, components numbered 1..n_b per mask in
    raster order of their first pixel. On the CPU this is scipy's labelling (compiled); on
    other devices a min-label propagation with pointer jumping that stays on the device.
    """
    if mask.device.type == "cpu":
        return _components_scipy(mask)
    return _components_torch(mask)


def _components_scipy(mask: torch.Tensor) -> torch.Tensor:
    from scipy import ndimage

    m = mask.numpy()
    out = np.zeros(m.shape, np.int64)
    for i in range(m.shape[0]):
        ndimage.label(m[i], output=out[i])
    return torch.from_numpy(out)


def _components_torch(mask: torch.Tensor) -> torch.Tensor:
    b, h, w = mask.shape
    n = b * h * w
    big = n + 1
    flat_idx = torch.arange(1, n + 1, device=mask.device).reshape(b, h, w)
    lab = torch.where(mask, flat_idx, torch.full_like(flat_idx, big))
    while True:
        m = lab.clone()
        m[:, 1:] = torch.minimum(m[:, 1:], lab[:, :-1])
        m[:, :-1] = torch.minimum(m[:, :-1], lab[:, 1:])
        m[:, :, 1:] = torch.minimum(m[:, :, 1:], lab[:, :, :-1])
        m[:, :, :-1] = torch.minimum(m[:, :, :-1], lab[:, :, 1:])
        m = torch.where(mask, m, big)
        # pointer jumping: a label is the flat index (+1) of a pixel of the same component
        flat = torch.cat([m.reshape(-1), m.new_full((1,), big)])
        for _ in range(4):
            m = torch.where(mask, flat[m.clamp_max(n) - 1], big)
            flat = torch.cat([m.reshape(-1), m.new_full((1,), big)])
        if torch.equal(m, lab):
            break
        lab = m
    out = torch.zeros_like(lab)
    for i in range(b):
        roots = lab[i][mask[i]]
        if roots.numel():
            uniq, inv = torch.unique(roots, return_inverse=True)
            out[i][mask[i]] = inv + 1
    return out


def instance_map(disp: torch.Tensor, iterations: int = 300, threshold: float = 2.5) -> torch.Tensor:
    """Class-agnostic instance masks from a displacement field (METHOD.md 5a).

    Regions where |D| < threshold (4-connected) are centroid candidates; each pixel takes the
    id of the region its converged point lands in; pixels landing elsewhere share one id.
    Returns (K, h, w) bool masks that partition the map.
    """
    cent = find_centroids(disp, iterations)
    weak = disp.float().norm(dim=0) < threshold
    regions = connected_components(weak[None])[0]
    ids = regions[cent[0], cent[1]]
    uniq, inv = torch.unique(ids, return_inverse=True)
    return torch.nn.functional.one_hot(inv, len(uniq)).permute(2, 0, 1).bool()


def instance_cams(cams: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """M_ck = M_c * I_k: (C, h, w) x (K, h, w) -> (C * K, h, w), class-major."""
    return (cams[:, None] * masks[None].to(cams.dtype)).reshape(-1, *cams.shape[1:])


def label_with_background(scores: torch.Tensor, bg: float) -> torch.Tensor:
    """argmax over [bg, scores]: (M, H, W) -> (H, W) long, 0 = background, m+1 = map m."""
    padded = torch.cat([scores.new_full((1,) + scores.shape[1:], bg), scores])
    return padded.argmax(0)


def detect_instances(scores: torch.Tensor, label: torch.Tensor, map_classes: torch.Tensor, min_fraction: float = 0.01):
    """Every 4-connected component of every label of ``label`` is one instance.

    scores: (M, H, W) score maps; label: (H, W) 0 = background, m+1 = map m; map_classes:
    (M,) class of each map. Score = max of the map inside the component, 0 when the component
    covers less than ``min_fraction`` of the image. Returns masks (N, H, W) bool, classes (N,),
    scores (N,) on the input's device.
    """
    h, w = label.shape
    present = torch.unique(label)
    present = present[present > 0]
    if present.numel() == 0:
        return (
            torch.zeros((0, h, w), dtype=torch.bool, device=label.device),
            torch.zeros(0, dtype=torch.long, device=label.device),
            torch.zeros(0, device=label.device),
        )
    onehot = label[None] == present[:, None, None]
    comps = connected_components(onehot)  # (L, H, W)
    masks, classes, out_scores = [], [], []
    for li, m_id in enumerate((present - 1).tolist()):
        c = comps[li]
        k = int(c.max())
        comp_masks = c[None] == torch.arange(1, k + 1, device=c.device)[:, None, None]
        area = comp_masks.flatten(1).sum(1)
        best = (scores[m_id][None] * comp_masks).flatten(1).amax(1)
        best = torch.where(area < min_fraction * h * w, torch.zeros_like(best), best)
        masks.append(comp_masks)
        classes.append(torch.full((k,), int(map_classes[m_id]), dtype=torch.long, device=c.device))
        out_scores.append(best)
    return torch.cat(masks), torch.cat(classes), torch.cat(out_scores).float()
