"""Stage runners: the bodies of the Snakemake rules (I/O at the edges, algorithms elsewhere).

Each runner takes explicit paths and the validated config; the workflow scripts only unpack
Snakemake's objects and call one of these.
"""

from __future__ import annotations

from ..config import stage_config


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


def coco_image_numbers(ids: list[str]) -> dict[str, int]:
    """COCO image ids of a list of image ids: 1, 2, ... in list order. The pseudo-label JSON
    numbers the union of the train and eval lists (train first) and the ground-truth JSON of the
    train split its own list, so both give a training image the same number."""
    return {image_id: n for n, image_id in enumerate(ids, start=1)}


__all__ = ["coco_image_numbers", "optional_input", "rule_config"]
