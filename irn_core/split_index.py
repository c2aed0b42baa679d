"""The split index: what planning a run needs to know of the dataset's splits, read from the split
files once and cached in the run folder (``dataset/index/``), so that parsing the workflow -- a
dry run, and every cluster job again -- reads a few KB whatever the dataset's size.

``splits.json`` holds, per split (train, eval, val): its file and that file's stamp (size, mtime),
the dataset settings it was read with, the number of images, the first ids, the largest image where
the file says (COCO) and the label classes. An entry is read again when its file's stamp or those
settings change, never otherwise. ``<split>.files`` lists the files behind the split's images
(relative to the dataset root), and ``<split>.stamp`` holds a digest of their sizes and mtimes:
check_dataset's input, rewritten only when it changes, so an edited, added or removed image file
reruns the check and what follows it, and nothing else does.

The generated toy set is made by a rule (prepare_toy): its splits are planned from the ``toy``
settings and checked once made, so it has no index.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .config import SPLIT_LISTS
from .datasets import reader, split_list_path
from .digest import config_digest
from .io import write_json

FIRST_IDS = 16  # ids kept per split (the report's example images are the first of the eval split)


def file_stamp(path: str | Path) -> list[int]:
    """(size, mtime in ns) of a file."""
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def _forget_parsed_files(kind: str) -> None:
    """Drop a reader's cache of parsed split files (a COCO JSON: GBs), which the index no longer needs."""
    cache = getattr(reader(kind), "forget_parsed", None)
    if cache:
        cache()


def _settings(ds: dict, split: str) -> str:
    """Digest of the dataset settings an entry is read with."""
    keys = ("kind", "root", "image_dir", "label_classes", SPLIT_LISTS[split])
    return config_digest({k: ds.get(k) for k in keys})


class SplitIndex:
    """The cached facts of a dataset's splits (see the module docstring). ``folder``: the run's
    ``dataset/index``; ``build``: read the split files again where the cache is stale or missing
    and write it (the submitting process); without, use the cache as it is (a cluster job: the
    submitting process keeps it fresh), reading a split file only where no entry exists."""

    def __init__(self, ds: dict, folder: str | Path | None, build: bool = True):
        self.ds, self.folder = ds, Path(folder) if folder else None
        self.reads: list[str] = []  # the split files read (tests count them)
        build = build and self.folder is not None  # without a folder: in memory only
        try:
            cached = json.loads((self.folder / "splits.json").read_text()) if self.folder else {}
        except (OSError, ValueError):
            cached = {}
        self.entries = {}
        for split in SPLIT_LISTS:
            entry = cached.get(split)
            if entry is None or (build and self._stale(split, entry)):
                entry = self._read(split, write_files=build)
            self.entries[split] = entry
        if build and self.entries != cached:
            write_json(self.folder / "splits.json", self.entries)
        _forget_parsed_files(self.ds["kind"])

    def _stale(self, split: str, entry: dict) -> bool:
        src = split_list_path(self.ds, SPLIT_LISTS[split])
        try:
            stamp = file_stamp(src)
        except OSError:
            return True
        return (
            entry.get("file") != str(src)
            or entry.get("stamp") != stamp
            or entry.get("settings") != _settings(self.ds, split)
        )

    def _read(self, split: str, write_files: bool) -> dict:
        """An entry from the split file (DatasetError when it cannot be read)."""
        key = SPLIT_LISTS[split]
        src = split_list_path(self.ds, key)
        self.reads.append(str(src))
        facts = reader(self.ds["kind"]).index_split(self.ds, key, with_gt=split != "train")
        unique = list(dict.fromkeys(facts["ids"]))
        if write_files:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{split}.files.tmp{os.getpid()}"
            tmp.write_text("\n".join(facts["files"]) + "\n")
            tmp.replace(self.folder / f"{split}.files")
        return {
            "file": str(src),
            "stamp": file_stamp(src),
            "settings": _settings(self.ds, split),
            "count": len(unique),
            "listed": len(facts["ids"]),
            "first_ids": unique[:FIRST_IDS],
            "largest": facts["largest"],
            "categories": facts["categories"],
        }

    def count(self, split: str) -> int:
        """Images of a split (each id once)."""
        return self.entries[split]["count"]

    def first_ids(self, split: str, n: int) -> list[str]:
        return self.entries[split]["first_ids"][:n]

    def largest(self, split: str) -> tuple[int, int] | None:
        """(H, W) of the split's largest image where its file says (COCO), else None."""
        size = self.entries[split]["largest"]
        return tuple(size) if size else None

    def categories(self) -> list[str] | None:
        """The categories of the first split's file (COCO), in its order; None for VOC."""
        return self.entries["train"]["categories"]

    def stamp_file(self, split: str) -> Path:
        return self.folder / f"{split}.stamp"

    def refresh_stamps(self) -> dict[str, str]:
        """Digest each split's files (sizes, mtimes; a missing file counts as such) and write
        ``<split>.stamp`` where the digest changed. A file shared by splits is looked at once."""
        seen: dict[str, str] = {}
        root = Path(self.ds["root"])
        digests = {}
        for split in SPLIT_LISTS:
            h = hashlib.sha256()
            with open(self.folder / f"{split}.files") as fh:
                for line in fh:
                    rel = line.rstrip("\n")
                    if rel not in seen:
                        try:
                            st = os.stat(root / rel)
                            seen[rel] = f"{st.st_size}:{st.st_mtime_ns}"
                        except OSError:
                            seen[rel] = "missing"
                    h.update(f"{rel}\0{seen[rel]}\n".encode())
            digests[split] = h.hexdigest()[:16]
            write_stamp(self.stamp_file(split), digests[split])
        return digests


def write_stamp(path: str | Path, digest: str) -> bool:
    """Write ``digest`` to the stamp file ``path`` unless it holds it already (so its mtime, which
    Snakemake compares, changes only with the digest). Whether it was written."""
    path = Path(path)
    if path.is_file() and path.read_text().strip() == digest:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(digest + "\n")
    tmp.replace(path)
    return True


def folder_digest(folder: str | Path, suffix: str) -> str:
    """Digest of the names, sizes and mtimes of a folder's files ending in ``suffix``."""
    h = hashlib.sha256()
    entries = sorted((e.name, e.stat()) for e in os.scandir(folder) if e.name.endswith(suffix) and e.is_file())
    for name, st in entries:
        h.update(f"{name}\0{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


__all__ = ["FIRST_IDS", "SplitIndex", "file_stamp", "folder_digest", "write_stamp"]
