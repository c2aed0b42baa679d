"""The pipeline's configuration: the settings a stage reads, and the checks a schema cannot express.

A rule declares the dotted keys it reads (``settings("irn", "cam.backbone")``); its stage gets
exactly those, so a stage that reads an undeclared key fails at once instead of silently
missing reruns. The execution keys below change how a stage runs, not what it computes, and are
given to every stage without being part of what its output depends on.
"""

from __future__ import annotations

import copy
from pathlib import Path

EXECUTION_KEYS = ("run_name", "device", "threads", "num_workers", "channels_last")


class ConfigError(ValueError):
    """A setting is wrong; the message names the key."""


def _sorted(obj):
    if isinstance(obj, dict):
        return {k: _sorted(obj[k]) for k in sorted(obj)}
    if isinstance(obj, (list, tuple)):
        return [_sorted(v) for v in obj]
    return obj


def select(cfg: dict, *keys: str) -> dict:
    """The sub-config holding only ``keys`` (dotted: ``"cam.backbone"``), nested as in ``cfg``
    with sorted keys (its repr is a stable Snakemake param)."""
    out: dict = {}
    for key in keys:
        src, dst = cfg, out
        parts = key.split(".")
        for i, part in enumerate(parts):
            if not isinstance(src, dict) or part not in src:
                raise ConfigError(f"config key {'.'.join(parts[: i + 1])}: missing")
            if i == len(parts) - 1:
                dst[part] = copy.deepcopy(src[part])
            else:
                src = src[part]
                dst = dst.setdefault(part, {})
    return _sorted(out)


def stage_config(settings: dict, config: dict) -> dict:
    """What a stage runs with: its declared settings plus the execution keys."""
    return {**copy.deepcopy(settings), **{k: config[k] for k in EXECUTION_KEYS if k in config}}


def without_execution(cfg: dict) -> dict:
    """The declared settings of a stage config (what its results depend on)."""
    return {k: v for k, v in cfg.items() if k not in EXECUTION_KEYS}
