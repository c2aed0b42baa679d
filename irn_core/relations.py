"""Inter-pixel relations (METHOD.md 3-4): confident regions from CAMs (refined by the dense CRF of
irn_core.crf), pair sets within a radius, affinities from a boundary map, and IRNet's losses.

Neighbourhoods follow the public implementation: the "forward half" of the offsets (dy, dx)
with dy > 0, or dy == 0 and dx > 0, and dy^2 + dx^2 < radius^2, so each unordered pair is
counted once. The path between two pixels is every cell within distance < 1 of the segment
joining them, endpoints included.
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .crf import crf_refine
from .datasets import IGNORE


def relation_labels(
    image: np.ndarray,
    cams: np.ndarray,
    keys: np.ndarray,
    fg_threshold: float = 0.30,
    bg_threshold: float = 0.05,
    use_crf: bool = True,
) -> np.ndarray:
    """Label map of confident regions: class k+1, background 0, unsure 255. (H, W) uint8.

    cams: (K, H, W) full-resolution CAMs in [0, 1]; keys: (K,) class indices.
    """
    keys = np.asarray(keys)
    if cams.shape[0] == 0:
        return np.zeros(cams.shape[1:], np.uint8)

    def confident(thr):
        local = np.concatenate([np.full((1,) + cams.shape[1:], thr, cams.dtype), cams]).argmax(0)
        if use_crf:
            local = crf_refine(image, local.astype(np.int64), len(keys) + 1)
        return np.concatenate([[0], keys + 1])[local]

    fg = confident(fg_threshold)
    bg = confident(bg_threshold)
    out = np.full(fg.shape, IGNORE, np.uint8)
    out[fg > 0] = fg[fg > 0]
    out[(fg == 0) & (bg == 0)] = 0
    return out


@cache
def search_directions(radius: int) -> tuple[tuple[int, int], ...]:
    """Forward-half offsets (dy, dx) with 0 < dy^2 + dx^2 < radius^2."""
    dirs = [(0, x) for x in range(1, radius)]
    dirs += [(y, x) for y in range(1, radius) for x in range(-radius + 1, radius) if x * x + y * y < radius * radius]
    return tuple(dirs)


@cache
def path_cells(direction: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """Cells (oy, ox) within distance < 1 of the segment from (0, 0) to ``direction``."""
    dy, dx = direction
    length_sq = dy * dy + dx * dx
    cells = []
    for y in range(min(0, dy), max(0, dy) + 1):
        for x in range(min(0, dx), max(0, dx) + 1):
            if (dy * x - dx * y) ** 2 / length_sq < 1:
                cells.append((y, x))
    return tuple(cells)


def shifted(x: torch.Tensor, dy: int, dx: int, fill: float) -> torch.Tensor:
    """out[..., y, x] = x[..., y + dy, x + dx], ``fill`` outside."""
    h, w = x.shape[-2:]
    out = torch.full_like(x, fill)
    ys, yd = slice(max(dy, 0), h + min(dy, 0)), slice(max(-dy, 0), h + min(-dy, 0))
    xs, xd = slice(max(dx, 0), w + min(dx, 0)), slice(max(-dx, 0), w + min(-dx, 0))
    out[..., yd, xd] = x[..., ys, xs]
    return out


def boundary_affinity(boundary: torch.Tensor, radius: int) -> torch.Tensor:
    """a_ij = 1 - max of the boundary map on the path from i to j, for every pixel i and every
    forward direction: (B, D, h, w). Pairs whose end leaves the map get 0.

    boundary: (B, h, w) in [0, 1]. The maximising cell of each path is found without autograd,
    then one gather of those cells carries the gradient (to the maximum, as ``amax`` does):
    backpropagating through a stack of every path cell would cost far more.
    """
    bsz, h, w = boundary.shape
    pad = radius
    b = F.pad(boundary, (pad, pad, 0, pad), value=1.0)  # outside the image: full boundary
    cells, index = _path_cells_index(radius)
    dev = boundary.device
    wp = w + 2 * pad
    directions = search_directions(radius)
    # flat offset (in the padded map) of each path's maximising cell: (B, D, h, w), from a
    # running arg-max along each path with in-place ops (a stacked argmax, or fresh tensors
    # per step, is several times slower on CPU)
    best = torch.empty((bsz, len(directions), h, w), dtype=torch.int64, device=dev)
    with torch.no_grad():
        views = [b[:, oy : oy + h, pad + ox : pad + ox + w] for oy, ox in cells]
        top = torch.empty((bsz, h, w), dtype=b.dtype, device=dev)
        higher = torch.empty((bsz, h, w), dtype=torch.bool, device=dev)
        for k, d in enumerate(directions):
            path = [(index[c], c[0] * wp + c[1]) for c in path_cells(d)]
            arg = best[:, k]
            top.copy_(views[path[0][0]])
            arg.fill_(path[0][1])
            for i, offset in path[1:]:
                torch.gt(views[i], top, out=higher)
                torch.maximum(top, views[i], out=top)
                arg.masked_fill_(higher, offset)
        best += torch.arange(h, device=dev)[:, None] * wp + torch.arange(w, device=dev)[None, :] + pad
    return 1 - b.reshape(bsz, -1).gather(1, best.reshape(bsz, -1)).reshape(best.shape)


@cache
def _path_cells_index(radius: int):
    cells = sorted({c for d in search_directions(radius) for c in path_cells(d)})
    return tuple(cells), {c: i for i, c in enumerate(cells)}


@lru_cache(maxsize=32)
def _dst_index(h: int, w: int, radius: int, device: str) -> torch.Tensor:
    """Flat index of each pair's far end in the map padded by ``radius`` (bottom, left, right)."""
    wp = w + 2 * radius
    ys = torch.arange(h)[:, None]
    xs = torch.arange(w)[None, :]
    idx = [((ys + dy) * wp + xs + radius + dx).reshape(-1) for dy, dx in search_directions(radius)]
    return torch.stack(idx).to(device)  # D, h*w


def gather_pairs(x: torch.Tensor, radius: int, fill: float) -> torch.Tensor:
    """The value at the far end of every forward pair: (B, C, h, w) -> (B, C, D, h, w); ``fill``
    where the far end leaves the map."""
    bsz, c, h, w = x.shape
    xp = F.pad(x, (radius, radius, 0, radius), value=fill)
    idx = _dst_index(h, w, radius, str(x.device))
    out = xp.reshape(bsz, c, -1)[:, :, idx.reshape(-1)]
    return out.reshape(bsz, c, idx.shape[0], h, w)


def pair_labels(label: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pair sets from a stride-4 relation label map (B, h, w) (0 bg, k+1 class, 255 unsure).

    Returns boolean (B, D, h, w) masks P+bg, P+fg, P- over (pixel, forward direction); pairs
    with an unsure end or an end outside the map belong to none.
    """
    dst = gather_pairs(label[:, None], radius, IGNORE)[:, 0]
    src = label[:, None]
    valid = (src != IGNORE) & (dst != IGNORE)
    same = src == dst
    return valid & same & (src == 0), valid & same & (src > 0), valid & ~same


def direction_offsets(radius: int, device=None) -> torch.Tensor:
    """(D, 2) float (dy, dx) of the forward directions."""
    return torch.tensor(search_directions(radius), dtype=torch.float32, device=device)


def public_source_region(h: int, w: int, radius: int, device=None) -> torch.Tensor:
    """(h, w) bool: the source pixels the public loss takes, rows [0, h - r') and columns
    [r', w - r') with r' = radius - 1 (its ``radius_floor``); every forward pair from them ends
    inside the map."""
    r = radius - 1
    region = torch.zeros((h, w), dtype=torch.bool, device=device)
    region[: max(h - r, 0), r : max(w - r, r)] = True
    return region


def irn_losses(
    edge_logits: torch.Tensor, disp: torch.Tensor, label: torch.Tensor, radius: int, pairs_at_border: bool = True
) -> dict:
    """The four IRNet losses (METHOD.md 4) for a batch.

    edge_logits: (B, 1, h, w); disp: (B, 2, h, w) stride-4 pixels (dy, dx); label: (B, h, w).
    ``pairs_at_border``: every pair whose two ends lie in the map; off, only the pairs from the
    public code's source region (``public_source_region``), x1.17 fewer at a 512 crop.
    """
    masks = pair_labels(label, radius)
    if not pairs_at_border:
        region = public_source_region(*label.shape[-2:], radius, label.device)
        masks = [m & region for m in masks]
    p_bg, p_fg, p_neg = (m.float() for m in masks)
    aff = boundary_affinity(torch.sigmoid(edge_logits[:, 0]), radius)
    eps = 1e-5

    def mean_over(values, mask):
        return (values * mask).sum() / (mask.sum() + eps)

    pos = -torch.log(aff + eps)
    pos_bg = mean_over(pos, p_bg)
    pos_fg = mean_over(pos, p_fg)
    neg = mean_over(-torch.log(1 + eps - aff), p_neg)
    # displacement: D(i) - D(j) should equal (x_j - x_i) for fg pairs, and 0 for bg pairs;
    # L1 averaged over (dy, dx), as in the public implementation
    offsets = direction_offsets(radius, disp.device)
    diff = disp[:, :, None] - gather_pairs(disp, radius, 0.0)  # B, 2, D, h, w
    fg_err = ((diff[:, 0] - offsets[:, 0, None, None]).abs() + (diff[:, 1] - offsets[:, 1, None, None]).abs()) / 2
    bg_err = (diff[:, 0].abs() + diff[:, 1].abs()) / 2
    dp_fg = mean_over(fg_err, p_fg)
    dp_bg = mean_over(bg_err, p_bg)
    total = (pos_bg + pos_fg) / 2 / 2 + neg / 2 + (dp_fg + dp_bg) / 2
    return {
        "total": total,
        "edge_pos_bg": pos_bg,
        "edge_pos_fg": pos_fg,
        "edge_neg": neg,
        "dp_fg": dp_fg,
        "dp_bg": dp_bg,
    }


__all__ = [
    "boundary_affinity",
    "direction_offsets",
    "gather_pairs",
    "irn_losses",
    "pair_labels",
    "path_cells",
    "public_source_region",
    "relation_labels",
    "search_directions",
    "shifted",
]
