"""Stage runners: the bodies of the Snakemake rules (I/O at the edges, algorithms elsewhere).

Each runner takes explicit paths and the validated config; the workflow scripts only unpack
Snakemake's objects and call one of these.
"""

from __future__ import annotations

import torch

from ..config import stage_config
from ..datasets import dataset_split_ids, open_dataset_section


def rule_config(smk) -> dict:
    """The config a rule's stage runs with: the settings the rule declares (``params.cfg``) and
    the execution keys (threads, device, ...)."""
    return stage_config(smk.params.cfg, smk.config)


def optional_input(value) -> str | None:
    """A named input that a rule declares as a list of zero or one file: the file, or None."""
    if isinstance(value, str):
        return value
    files = list(value)
    return str(files[0]) if files else None


def open_dataset(cfg: dict):
    """The reader of the configured dataset (VOC layout or COCO; same interface)."""
    return open_dataset_section(cfg["dataset"])


def split_ids(cfg: dict, key: str) -> list[str]:
    """Ids of the split named by ``dataset.<key>`` (a path relative to the dataset root)."""
    return dataset_split_ids(cfg["dataset"], key)


def union_ids(*lists: list[str]) -> list[str]:
    """Ordered union of id lists."""
    seen, out = set(), []
    for ids in lists:
        for i in ids:
            if i not in seen:
                seen.add(i)
                out.append(i)
    return out


def coco_image_numbers(ids: list[str]) -> dict[str, int]:
    """COCO image ids of a list of image ids: 1, 2, ... in list order. The pseudo-label JSON
    numbers the union of the train and eval lists (train first) and the ground-truth JSON of the
    train split its own list, so both give a training image the same number."""
    return {image_id: n for n, image_id in enumerate(ids, start=1)}


def setup_torch(threads: int, seed: int | None = None) -> None:
    torch.set_num_threads(max(1, int(threads)))
    if seed is not None:
        torch.manual_seed(seed)


__all__ = ["coco_image_numbers", "open_dataset", "optional_input", "rule_config", "split_ids", "union_ids", "setup_torch"]
