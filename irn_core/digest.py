"""Digests that say what a file or a result depends on: settings, input contents, code.

Equal content gives an equal digest: stage files carry a digest of their arrays (not of the file's
bytes, which hold a creation time), and the code version of a rule is a digest of the code its
script can execute (comments, docstrings and layout do not count).
"""

from __future__ import annotations

import ast
import hashlib
import json
from functools import lru_cache
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
        from .checkpoints import load_checkpoint

        state = load_checkpoint(path)
        if isinstance(state, dict) and "content_digest" in state:
            return state["content_digest"]
    elif path.suffix == ".json":
        data = json.loads(path.read_text())
        if isinstance(data, dict) and isinstance(data.get("digest"), str):
            return data["digest"]
    return file_digest(path)


# ---- code versions -------------------------------------------------------------------------------
# A rule's code version covers the code its script can run: the script, and in the irn_core modules
# it reaches, the definitions its names lead to (a function, a class with all its methods, a
# constant), followed through every name those use, plus each reached module's top-level statements
# (what runs when it is imported). A module imported as a module object (``import x``,
# ``from . import x``) counts whole. So an edit of one runner of a stage module reruns that runner's
# rule only, and a module a rule never reaches (the COCO reader on a VOC run) is not in its version.
# Code chosen by name at run time (the dataset reader of ``dataset.kind``) is named by the caller:
# ``dynamic`` maps a definition ("module:name") to the modules it imports by name, which count whole.


class _Module:
    """One parsed module: its top-level statements, each with its syntax-tree dump and where it
    leads (the definitions and modules its names and imports reach), found once per content."""

    def __init__(self, path: Path, name: str, text: str):
        self.path, self.name = path, name
        tree = _strip_docstrings(ast.parse(text, filename=str(path)))
        self.binds: dict[str, tuple[str, str | None]] = {}  # name -> (module, attribute or None)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.binds.update(_bindings(node, name, path.name == "__init__.py"))
        self.defs: dict[str, list[int]] = {}  # name -> the statements defining it
        self.always: list[int] = []  # the statements that act on import
        for i, stmt in enumerate(tree.body):
            names = _defined(stmt)
            for n in names:
                self.defs.setdefault(n, []).append(i)
            if not names:
                self.always.append(i)
        self.statements = [(str(path), stmt.lineno, ast.dump(stmt), _leads(stmt, self)) for stmt in tree.body]


def _leads(stmt: ast.stmt, mod) -> list[tuple[str, str | None]]:
    """Where a statement leads: a name defined in its module or bound by an import, and the
    modules its imports run (``(module, "")``)."""
    out = []
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name):
            if node.id in mod.defs:
                out.append((mod.name, node.id))
            elif node.id in mod.binds:
                out.append(mod.binds[node.id])
        elif isinstance(node, (ast.Import, ast.ImportFrom)):  # an import runs the module's top level
            bound = _bindings(node, mod.name, mod.path.name == "__init__.py")
            out += [(f"{source}.{attr}" if attr else source, "") for source, attr in bound.values()]
    return list(dict.fromkeys(out))


def _defined(stmt: ast.stmt) -> list[str]:
    """The names a top-level definition binds: a function or class, or an assignment to plain
    names (its value matters only where it is used); [] for statements that act on import."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    else:
        return []
    names = []
    for t in targets:
        parts = t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]
        if not all(isinstance(p, ast.Name) for p in parts):
            return []  # an attribute or item assignment acts on another object
        names += [p.id for p in parts]
    return names


def _bindings(node, module: str, is_package: bool) -> dict[str, tuple[str, str | None]]:
    """Names an import statement binds: name -> (module, attribute) or (module, None)."""
    out = {}
    if isinstance(node, ast.Import):
        for a in node.names:
            if a.asname:
                out[a.asname] = (a.name, None)
            else:  # ``import a.b`` binds ``a`` and imports ``a.b``
                out[a.name.split(".")[0]] = (a.name, None)
        return out
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    for a in node.names:
        out[a.asname or a.name] = (source, a.name)
    return out


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
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


@lru_cache(maxsize=256)
def _parsed(path: Path, name: str, text: str) -> _Module:
    return _Module(path, name, text)


def _load(name: str) -> _Module | None:
    """A module parsed once per content (a workflow reads the same modules for every rule)."""
    path = _module_file(name)
    return None if path is None else _parsed(path, name, path.read_text())


def code_units(*entry_files: str | Path, dynamic: dict[str, list[str]] | None = None) -> dict[tuple[str, int], str]:
    """The code a script can run, as {(file, line): syntax-tree dump} of the top-level statements
    it reaches (see the comment above)."""
    dynamic = dynamic or {}
    units: dict[tuple[str, int], str] = {}
    # (module, name); (module, None): the whole module; (module, ""): its top-level statements
    todo: list[tuple[str, str | None]] = []
    done: set[tuple[str, str | None]] = set()
    loaded: dict[str, _Module | None] = {}  # by module name, None for a module outside irn_core

    def include(mod: _Module, indices) -> None:
        for i in indices:
            where, line, dump, leads = mod.statements[i]
            if (where, line) not in units:
                units[where, line] = dump
                todo.extend(leads)

    def enter(module: str) -> _Module | None:
        """Load a module and the packages on the way in; their top-level statements run on import."""
        if module not in loaded:
            parts = module.split(".")
            for i in range(1, len(parts) + 1):
                name = ".".join(parts[:i])
                if name not in loaded:
                    loaded[name] = _load(name)
                    if loaded[name] is not None:
                        include(loaded[name], loaded[name].always)
        return loaded[module]

    for entry in entry_files:  # a script: all of it runs, and it imports what it runs
        script = _Module(Path(entry), "__main__", Path(entry).read_text())
        units.update({(Path(entry).name, line): dump for _, line, dump, _ in script.statements})
        todo += [lead for *_, leads in script.statements for lead in leads] + list(script.binds.values())
    while todo:
        module, name = todo.pop()
        if (module, name) in done:
            continue
        done.add((module, name))
        if name and _module_file(f"{module}.{name}") is not None:
            module, name = f"{module}.{name}", None  # ``from package import module``
        mod = enter(module)
        if mod is None or name == "":  # imported: its top-level statements only
            continue
        if name is None:
            include(mod, range(len(mod.statements)))
        elif name in mod.defs:
            include(mod, mod.defs[name])
            todo.extend((extra, None) for extra in dynamic.get(f"{module}:{name}", ()))
        elif name in mod.binds:  # a name the module imports from elsewhere (a re-export)
            todo.append(mod.binds[name])
    return units


def code_digest(*entry_files: str | Path, dynamic: dict[str, list[str]] | None = None) -> str:
    """Digest of the code the given Python files (a rule's script) can run: see ``code_units``."""
    h = hashlib.sha256()
    for (where, _), dump in sorted(code_units(*entry_files, dynamic=dynamic).items()):
        path = Path(where)
        h.update(str(path.relative_to(PACKAGE.parent) if PACKAGE in path.parents else path.name).encode())
        h.update(dump.encode())
    return h.hexdigest()[:16]
