"""Random walk propagation driven by the boundary map (METHOD.md 5b), with a SPARSE transition
matrix: neighbours within ``radius`` only, never a dense N x N matrix.

The walk of the public code, ``s (1 - B) @ T^(2^t)`` with ``T = column-normalise(A ** beta)``,
is computed as ``2^t`` applications of the sparse matrix. A is symmetric, so ``v @ T`` equals
``R v`` with ``R = D^-1 A`` the row-normalised affinity (D = degrees).
"""

from __future__ import annotations

import warnings

import torch

from .relations import boundary_affinity, search_directions


def affinity_pairs(boundary: torch.Tensor, radius: int = 5, beta: float = 10.0):
    """Sparse affinities ``a_ij ** beta`` of a (h, w) boundary map.

    Returns (src, dst, weight) over the forward pairs inside the map (both directions are
    implied by symmetry); flat indices into h * w.
    """
    h, w = boundary.shape
    aff = boundary_affinity(boundary[None], radius)[0]  # D, h, w
    ys, xs = torch.meshgrid(
        torch.arange(h, device=boundary.device), torch.arange(w, device=boundary.device), indexing="ij"
    )
    src, dst, wgt = [], [], []
    for k, (dy, dx) in enumerate(search_directions(radius)):
        inside = (ys + dy < h) & (xs + dx >= 0) & (xs + dx < w)
        p = (ys * w + xs)[inside]
        src.append(p)
        dst.append(p + dy * w + dx)
        wgt.append(aff[k][inside])
    return torch.cat(src), torch.cat(dst), torch.cat(wgt).clamp_min(0) ** beta


def transition_matrix(
    boundary: torch.Tensor, radius: int = 5, beta: float = 10.0, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Row-normalised sparse affinity R = D^-1 (A ** beta) with self-affinity 1, as (N, N) CSR."""
    h, w = boundary.shape
    n = h * w
    src, dst, wgt = affinity_pairs(boundary.to(dtype), radius, beta)
    keep = wgt > 0
    src, dst, wgt = src[keep], dst[keep], wgt[keep]
    diag = torch.arange(n, device=boundary.device)
    rows = torch.cat([src, dst, diag])
    cols = torch.cat([dst, src, diag])
    vals = torch.cat([wgt, wgt, torch.ones(n, dtype=dtype, device=boundary.device)])
    deg = torch.zeros(n, dtype=dtype, device=boundary.device).index_add_(0, rows, vals)
    vals = vals / deg[rows]
    with warnings.catch_warnings():  # "sparse CSR support is in beta": it is used as documented
        warnings.simplefilter("ignore", UserWarning)
        coo = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (n, n), check_invariants=False)
        return coo.coalesce().to_sparse_csr()


def propagate(
    maps: torch.Tensor,
    boundary: torch.Tensor,
    radius: int = 5,
    beta: float = 10.0,
    steps: int = 256,
    dtype: torch.dtype = torch.float64,
    out_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Random walk of every map of (M, h, w) on a (h, w) boundary map in [0, 1]: (M, h, w).

    Each map is first multiplied by (1 - B), then the walk is applied ``steps`` times
    (public code: 2^8 = 256). Accumulates in float64 by default; returns ``out_dtype``
    (default ``maps.dtype``).
    """
    m, h, w = maps.shape
    out_dtype = out_dtype or maps.dtype
    if m == 0:
        return maps.to(out_dtype).clone()
    r = transition_matrix(boundary, radius, beta, dtype)
    v = (maps.to(dtype) * (1 - boundary.to(dtype))).reshape(m, h * w).T.contiguous()
    for _ in range(steps):
        v = r @ v
    return v.T.reshape(m, h, w).to(out_dtype)


def propagate_dense(
    maps: torch.Tensor,
    boundary: torch.Tensor,
    radius: int = 5,
    beta: float = 10.0,
    squarings: int = 8,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """The public implementation's dense reference: T squared ``squarings`` times. O(N^2) memory."""
    m, h, w = maps.shape
    n = h * w
    src, dst, wgt = affinity_pairs(boundary.to(dtype), radius, beta)
    a = torch.eye(n, dtype=dtype, device=boundary.device)
    a[src, dst] = wgt
    a[dst, src] = wgt
    t = a / a.sum(0, keepdim=True)
    for _ in range(squarings):
        t = t @ t
    v = (maps.to(dtype) * (1 - boundary.to(dtype))).reshape(m, n)
    return (v @ t).reshape(m, h, w).to(maps.dtype)


def upsample_normalise(rw: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """x4 bilinear upsampling, crop to the image size, divide by the global maximum: (M, H, W)."""
    if rw.shape[0] == 0:  # no maps (an image without a foreground label)
        return rw.new_zeros((0, *size), dtype=torch.float32)
    up = torch.nn.functional.interpolate(rw[None].float(), scale_factor=4, mode="bilinear", align_corners=False)
    up = up[0, :, : size[0], : size[1]]
    return up / up.max().clamp_min(1e-5)
