"""The settings a stage reads.

Each stage module declares, in its ``SETTINGS``, the config keys each of its runners reads; the
rule takes them as its params (``rule_settings``), so a changed value reruns exactly the rules
that read it, and the runner gets exactly those (``stage_config``): reading an undeclared key
fails at once instead of silently missing reruns. The execution keys below change how a stage
runs, not what it computes, and are given to every stage without being part of what its output
depends on.
"""

from __future__ import annotations

import ast
import copy
import re
from functools import lru_cache
from pathlib import Path

# manifests: the check_dataset manifests a rule passes its stage (irn_core.datasets.stage_dataset)
EXECUTION_KEYS = ("run_name", "device", "threads", "num_workers", "channels_last", "manifests")


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


# ---- the declarations of the stage modules -----------------------------------------------------
STAGES = Path(__file__).resolve().parent / "stages"
DATASET_KEYS = (
    "dataset.kind",
    "dataset.root",
    "dataset.classes",
    "dataset.label_classes",
    "dataset.image_dir",
    "dataset.max_side",
)
SPLIT_LISTS = {"train": "train_list", "eval": "eval_list", "val": "val_list"}
_CONDITION = re.compile(r"^(?P<key>\S+) if (?P<lhs>\S+) (?P<op>==|!=) (?P<rhs>\S+)$")


@lru_cache(maxsize=1)
def declared_settings() -> dict[str, list[str]]:
    """rule -> the entries of its ``SETTINGS`` declaration, from every stage module. Read as
    literals, so the workflow learns them without importing the stage modules (and torch)."""
    out: dict[str, list[str]] = {}
    for path in sorted(STAGES.glob("*.py")):
        for stmt in ast.parse(path.read_text()).body:
            if isinstance(stmt, ast.Assign) and [getattr(t, "id", None) for t in stmt.targets] == ["SETTINGS"]:
                for rule, entries in ast.literal_eval(stmt.value).items():
                    if rule in out:
                        raise ConfigError(f"{path}: rule {rule} is declared by another stage module too")
                    out[rule] = list(entries)
    return out


def _lookup(cfg: dict, key: str):
    value = cfg
    for part in key.split("."):
        value = value[part]
    return value


def rule_settings(cfg: dict, rule: str, split: str | None = None) -> dict:
    """The settings ``rule`` reads (see ``declared_settings``), selected from ``cfg``.

    An entry is a dotted key or a section; ``split:X`` stands for the images of split X (the
    dataset keys and ``dataset.X_list``; ``{split}`` is the rule's own split); ``KEY if A == V``
    (or ``!=``) is read only when config key A (or the rule's ``split``) has the value V.
    """
    keys: list[str] = []
    for entry in declared_settings()[rule]:
        m = _CONDITION.match(entry)
        if m:
            lhs = split if m["lhs"] == "split" else _lookup(cfg, m["lhs"])
            if (str(lhs) == m["rhs"]) != (m["op"] == "=="):
                continue
            entry = m["key"]
        if entry.startswith("split:"):
            name = entry[len("split:") :].replace("{split}", split or "")
            keys += [*DATASET_KEYS, f"dataset.{SPLIT_LISTS[name]}"]
        else:
            keys.append(entry)
    return select(cfg, *dict.fromkeys(keys))
