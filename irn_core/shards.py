"""Sharded per-image stages: a shard's images, and the index file that makes the shard files of a
stage one logical HDF5 file.

A per-image stage run with ``shards: N`` writes ``<stage dir>/shards/<name>.<k>.h5`` for k < N,
each holding a contiguous block of the image list; the index ``<stage dir>/<name>.h5`` holds one
external link per image (``f[image_id]`` opens the group in its shard file), the provenance of the
shards, and a content digest of theirs. Readers open the index like any stage file.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py

from .digest import config_digest
from .io import atomic_path


def shard_ids(ids: list[str], index: int, count: int) -> list[str]:
    """The ``index``-th of ``count`` contiguous, near-equal blocks of ``ids`` (in order)."""
    if not 0 <= index < count:
        raise ValueError(f"shard {index} of {count} does not exist")
    n = len(ids)
    return ids[index * n // count : (index + 1) * n // count]


def write_index(out_path: str | Path, shard_paths: list[str | Path]) -> dict:
    """The index file of a stage's shard files: external links in shard order, the shards'
    common provenance, ``shards`` (their paths relative to the index) and ``content_digest``
    (over the shards' digests). Raises ValueError naming a shard that is incomplete, that
    another stage wrote, or whose images overlap another's."""
    out_path = Path(out_path)
    links, digests, attrs, seen = [], [], None, {}
    for path in map(Path, shard_paths):
        with h5py.File(path, "r") as f:
            if not f.attrs.get("complete", False):
                raise ValueError(f"{path}: shard file is incomplete")
            shard_attrs = {k: f.attrs[k] for k in f.attrs if k not in ("content_digest", "created", "complete")}
            if attrs is None:
                attrs = shard_attrs
            elif shard_attrs.get("stage") != attrs.get("stage") or shard_attrs.get("config_digest") != attrs.get(
                "config_digest"
            ):
                raise ValueError(
                    f"{path}: shard of stage {shard_attrs.get('stage')} / settings "
                    f"{shard_attrs.get('config_digest')}, the others are {attrs.get('stage')} / "
                    f"{attrs.get('config_digest')}"
                )
            digests.append(str(f.attrs["content_digest"]))
            rel = str(Path(path).resolve().relative_to(out_path.parent.resolve()))
            for name in f:
                if name in seen:
                    raise ValueError(f"{path}: image '{name}' is also in {seen[name]}")
                seen[name] = path
                links.append((name, rel))
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w", libver="latest") as f:
        for name, rel in links:
            f[name] = h5py.ExternalLink(rel, name)
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
        f.attrs["shards"] = json.dumps(list(dict.fromkeys(r for _, r in links)))
        f.attrs["content_digest"] = config_digest(digests)
        f.attrs["complete"] = True
    return {"images": len(links), "shards": len(shard_paths)}


__all__ = ["shard_ids", "write_index"]
