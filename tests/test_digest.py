import h5py
import numpy as np
import torch

from irn_core.checkpoints import atomic_save
from irn_core.digest import config_digest, input_digest
from irn_core.io import atomic_h5, provenance, write_group

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def _h5(path, arrays, created):
    attrs = provenance("s", "r", {"a": 1})
    attrs["created"] = created
    with atomic_h5(path, attrs) as f:
        for name, a in arrays.items():
            write_group(f, name, {"x": a})


def test_stage_file_digest_depends_on_content_only(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    _h5(tmp_path / "one.h5", {"img1": a}, "2026-01-01")
    _h5(tmp_path / "two.h5", {"img1": a}, "2027-12-31")  # same arrays, another time stamp
    _h5(tmp_path / "three.h5", {"img1": a + 1}, "2026-01-01")
    _h5(tmp_path / "four.h5", {"img2": a}, "2026-01-01")  # same values under another image id
    d = [input_digest(tmp_path / f"{n}.h5") for n in ("one", "two", "three", "four")]
    assert d[0] == d[1] and len({d[0], d[2], d[3]}) == 3
    with h5py.File(tmp_path / "one.h5") as f:
        assert f.attrs["content_digest"] == d[0] and f.attrs["created"] == "2026-01-01"


def test_model_digest_ignores_training_time(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(2)}
    atomic_save({"model": state, "train_seconds": 1.0}, tmp_path / "a.pt")
    atomic_save({"model": state, "train_seconds": 2.0}, tmp_path / "b.pt")
    atomic_save({"model": {**state, "b": torch.ones(2)}, "train_seconds": 1.0}, tmp_path / "c.pt")
    da, db, dc = (input_digest(tmp_path / f"{n}.pt") for n in "abc")
    assert da == db != dc


def test_config_digest_ignores_key_order():
    assert config_digest({"a": 1, "b": [1, 2]}) == config_digest({"b": [1, 2], "a": 1})
    assert config_digest({"a": 1}) != config_digest({"a": 2})


def _package(tmp_path, modules: dict[str, str], script: str):
    """A made-up package 'irn_core' in tmp_path with the given modules, and a script using it."""
    pkg = tmp_path / "irn_core"
    (pkg / "stages").mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text('__version__ = "1"\n')
    (pkg / "stages" / "__init__.py").write_text("")
    for name, text in modules.items():
        (pkg / name).write_text(text)
    (tmp_path / "script.py").write_text(script)
    return tmp_path / "script.py"


A = "from .b import g\ndef f():\n    return g()\ndef unused():\n    return 0\n"
B = "def g():\n    return LIMIT\nLIMIT = 1\n"
S = (
    "from ..a import f\nfrom .. import __version__\n"
    "def run():\n    return f(), __version__\ndef other():\n    return 5\n"
)


def test_code_digest_follows_what_a_script_runs_and_ignores_comments(tmp_path, monkeypatch):
    import irn_core.digest as dg

    monkeypatch.setattr(dg, "PACKAGE", tmp_path / "irn_core")
    script = "from irn_core.stages.s import run\nrun()\n"
    base = dg.code_digest(_package(tmp_path, {"a.py": A, "b.py": B, "stages/s.py": S}, script))
    # comments, docstrings and blank lines are not code
    commented = (
        '"""doc"""\nfrom .b import g  # uses g\n\ndef f():\n    """f."""\n    return g()\ndef unused():\n    return 0\n'
    )
    assert dg.code_digest(_package(tmp_path, {"a.py": commented}, script)) == base
    # a change in a function reached through two modules, or in a constant it reads, is a new version
    for module, text in (("b.py", B.replace("return LIMIT", "return LIMIT + 1")), ("b.py", B.replace("= 1", "= 2"))):
        assert dg.code_digest(_package(tmp_path, {module: text}, script)) != base, text
        _package(tmp_path, {"b.py": B}, script)
    # code the script cannot reach does not count: another runner of its stage module, a function
    # nobody calls, a new constant nobody reads, a module nobody imports
    for module, text in (
        ("stages/s.py", S.replace("return 5", "return 6")),
        ("a.py", A.replace("return 0", "return 9")),
        ("b.py", B + "OTHER = 3\n"),
        ("unused.py", "x = 1\n"),
    ):
        assert dg.code_digest(_package(tmp_path, {module: text}, script)) == base, text
    _package(tmp_path, {"a.py": A, "b.py": B, "stages/s.py": S}, script)
    # what runs on import counts: a module-level statement of a module on the way in
    assert dg.code_digest(_package(tmp_path, {"b.py": B + "print('imported')\n"}, script)) != base
    _package(tmp_path, {"b.py": B}, script)
    # the package version counts where it is read
    (tmp_path / "irn_core" / "__init__.py").write_text('__version__ = "2"\n')
    assert dg.code_digest(tmp_path / "script.py") != base


def test_code_chosen_by_name_counts_where_it_is_chosen(tmp_path, monkeypatch):
    """A module imported by name at run time (the dataset reader of dataset.kind) counts for
    the code that imports it, when the caller names it."""
    import irn_core.digest as dg

    monkeypatch.setattr(dg, "PACKAGE", tmp_path / "irn_core")
    pick = "import importlib\ndef reader(kind):\n    return importlib.import_module(kind)\ndef plain():\n    return 1\n"
    for script in (
        "from irn_core.pick import reader\nreader('irn_core.r1')\n",
        "from irn_core.pick import plain\nplain()\n",
    ):
        path = _package(tmp_path, {"pick.py": pick, "r1.py": "def read():\n    return 1\n"}, script)
        base = dg.code_digest(path, dynamic={"irn_core.pick:reader": ["irn_core.r1"]})
        _package(tmp_path, {"r1.py": "def read():\n    return 2\n"}, script)
        changed = dg.code_digest(path, dynamic={"irn_core.pick:reader": ["irn_core.r1"]})
        assert (changed != base) == ("reader" in script)
