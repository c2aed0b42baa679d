import h5py
import numpy as np
import torch

from irn_core.digest import code_digest, config_digest, input_digest
from irn_core.io import atomic_h5, provenance, write_group
from irn_core.train import atomic_save

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


def _package(tmp_path, mod_a, mod_b, script):
    """A copy of irn_core's digest machinery pointed at a made-up package 'irn_core' in tmp."""
    pkg = tmp_path / "irn_core"
    (pkg / "stages").mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text('__version__ = "1"\n')
    (pkg / "stages" / "__init__.py").write_text("")
    (pkg / "a.py").write_text(mod_a)
    (pkg / "b.py").write_text(mod_b)
    (pkg / "stages" / "s.py").write_text("from ..a import f\n")
    (tmp_path / "script.py").write_text(script)
    return tmp_path / "script.py"


def test_code_digest_follows_imports_and_ignores_comments(tmp_path, monkeypatch):
    import irn_core.digest as dg

    monkeypatch.setattr(dg, "PACKAGE", tmp_path / "irn_core")
    script = "from irn_core.stages.s import f\n"
    base = dg.code_digest(_package(tmp_path, "from .b import g\ndef f():\n    return g()\n", "def g():\n    return 1\n",
                                   script))
    # comments, docstrings and blank lines are not code
    same = dg.code_digest(_package(tmp_path, '"""doc"""\nfrom .b import g  # uses g\n\ndef f():\n    """f."""\n'
                                             "    return g()\n", "def g():\n    return 1\n", script))
    assert same == base
    # a change in a module imported through two levels is a new code version
    changed = dg.code_digest(_package(tmp_path, "from .b import g\ndef f():\n    return g()\n",
                                      "def g():\n    return 2\n", script))
    assert changed != base
    # a module the script does not reach does not count
    (tmp_path / "irn_core" / "unused.py").write_text("x = 1\n")
    assert dg.code_digest(tmp_path / "script.py") == changed
    # the package version (irn_core/__init__.py) counts
    (tmp_path / "irn_core" / "__init__.py").write_text('__version__ = "2"\n')
    assert dg.code_digest(tmp_path / "script.py") != changed


def test_rule_code_versions_differ_by_stage_module():
    scripts = ROOT / "workflow" / "scripts"
    assert code_digest(scripts / "train_cam.py") != code_digest(scripts / "train_irn.py")
    assert code_digest(scripts / "train_cam.py") == code_digest(scripts / "train_cam.py")


def _copy_code(tmp_path, monkeypatch):
    """irn_core and the workflow scripts copied to ``tmp_path``, with the digest pointed at the copy."""
    import shutil

    import irn_core.digest as dg

    shutil.copytree(ROOT / "irn_core", tmp_path / "irn_core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "workflow" / "scripts", tmp_path / "scripts")
    monkeypatch.setattr(dg, "PACKAGE", tmp_path / "irn_core")
    return tmp_path / "irn_core", tmp_path / "scripts"


def test_training_rules_cover_the_stage_they_run(tmp_path, monkeypatch):
    """The training scripts hand their stage to run_training (torchrun when train_processes > 1):
    an edit of the stage module or of the training loop is a new code version of the rule, so the
    trained model is not kept stale."""
    package, scripts = _copy_code(tmp_path, monkeypatch)
    stage_of = {"train_cam": "stages/cam.py", "train_irn": "stages/irn.py", "train_maskrcnn": "stages/supervised.py",
                "train_deeplab": "stages/supervised.py"}
    for rule, module in stage_of.items():
        for edited in (module, "train.py"):
            before = code_digest(scripts / f"{rule}.py")
            path = package / edited
            text = path.read_text()
            path.write_text(text + "\nEDITED = 1\n")
            assert code_digest(scripts / f"{rule}.py") != before, (rule, edited)
            path.write_text(text)
