"""Stage runners: the bodies of the Snakemake rules (I/O at the edges, algorithms elsewhere).

Each runner takes explicit paths and the validated config; the workflow scripts only unpack
Snakemake's objects and call one of these.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..voc import VOCDataset, read_split


def dataset(cfg: dict) -> VOCDataset:
    return VOCDataset(cfg["dataset"]["root"], cfg["dataset"]["classes"])


def split_ids(cfg: dict, key: str) -> list[str]:
    """Ids of the split named by ``dataset.<key>`` (a path relative to the dataset root)."""
    return read_split(Path(cfg["dataset"]["root"]) / cfg["dataset"][key])


def union_ids(*lists: list[str]) -> list[str]:
    """Ordered union of id lists."""
    seen, out = set(), []
    for ids in lists:
        for i in ids:
            if i not in seen:
                seen.add(i)
                out.append(i)
    return out


def setup_torch(threads: int, seed: int | None = None) -> None:
    torch.set_num_threads(max(1, int(threads)))
    if seed is not None:
        torch.manual_seed(seed)


__all__ = ["dataset", "split_ids", "union_ids", "setup_torch"]
