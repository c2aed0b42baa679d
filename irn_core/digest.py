"""Digests that say what a file or a result depends on: settings, input contents, code.

Equal content gives an equal digest: stage files carry a digest of their arrays (not of the file's
bytes, which hold a creation time), and the code version of a stage is a digest of the syntax
trees of the ``irn_core`` modules it imports (comments, docstrings and layout do not count).
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import numpy as np

PACKAGE = Path(__file__).resolve().parent


def config_digest(cfg) -> str:
    """sha256 (16 hex digits) of a JSON-serialisable config section (key order does not matter)."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_digest(path: str | Path, n: int = 16) -> str:
    """First ``n`` hex digits of the file's sha256."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n]


class ArrayDigest:
    """A running sha256 over named arrays (name, dtype, shape and bytes of each, in order)."""

    def __init__(self):
        self._h = hashlib.sha256()

    def update(self, name: str, array) -> None:
        a = np.ascontiguousarray(array)
        self._h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        self._h.update(a.tobytes())

    def hexdigest(self, n: int = 16) -> str:
        return self._h.hexdigest()[:n]


def input_digest(path: str | Path) -> str:
    """Content digest of a pipeline file: a stage file's or model's recorded ``content_digest``,
    a dataset manifest's ``digest``, else the sha256 of the bytes."""
    path = Path(path)
    if path.suffix == ".h5":
        import h5py

        with h5py.File(path, "r") as f:
            if "content_digest" in f.attrs:
                return str(f.attrs["content_digest"])
    elif path.suffix == ".pt":
        import torch

        state = torch.load(path, map_location="cpu", weights_only=False)
        if isinstance(state, dict) and "content_digest" in state:
            return state["content_digest"]
    elif path.suffix == ".json":
        data = json.loads(path.read_text())
        if isinstance(data, dict) and isinstance(data.get("digest"), str):
            return data["digest"]
    return file_digest(path)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _module_file(name: str) -> Path | None:
    """File of an ``irn_core`` module name, or None when it is not one."""
    parts = name.split(".")
    if parts[0] != PACKAGE.name:
        return None
    base = PACKAGE.joinpath(*parts[1:])
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """``irn_core`` module names a module imports (absolute and relative imports, submodules
    named in ``from X import name`` included)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}
    return found


def code_digest(*entry_files: str | Path) -> str:
    """Digest of the code behind the given Python files (e.g. a rule's script): their syntax
    trees and those of every ``irn_core`` module they import, transitively, with the packages
    that hold them (``irn_core/__init__.py`` carries the version)."""
    h = hashlib.sha256()
    todo = [Path(p).resolve() for p in entry_files]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        inside = PACKAGE in path.parents
        module = _module_name(path) if inside else "__main__"
        for name in _imports(tree, module, path.name == "__init__.py"):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # the packages on the way in run their __init__
                f = _module_file(".".join(parts[:i]))
                if f is not None and f not in seen:
                    todo.append(f)
    for path in sorted(seen):
        tree = _strip_docstrings(ast.parse(path.read_text()))
        h.update(str(path.relative_to(PACKAGE.parent) if PACKAGE in path.parents else path.name).encode())
        h.update(ast.dump(tree).encode())
    return h.hexdigest()[:16]
