"""A rule's code version covers the code its stage runs, and little else.

What a rule runs is recorded independently of the digest: every Python process of the tiny run
traces the irn_core functions it calls (tests/trace/sitecustomize.py). Each of those functions,
edited in a copy of the package, must change the code version of every rule that called it; code
a rule never runs (the COCO reader on a toy or VOC run, the toy generator on a VOC run, another
runner of its stage module) must leave it unchanged.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import pytest

import irn_core.digest as dg
from irn_core.datasets import dynamic_imports

ROOT = Path(__file__).resolve().parents[1]


def traced_rules(trace_dir: Path) -> dict[str, set[tuple[str, int, str]]]:
    """rule -> {(file relative to irn_core, first line, qualified name)} of the functions its
    script's processes called (forked workers included)."""
    out: dict[str, set] = {}
    for path in trace_dir.glob("*.jsonl"):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        argv = lines[0]["argv"]
        m = re.match(r"tmp[^.]+\.(\w+)\.py$", Path(argv[0]).name) if argv and argv[0] else None
        if not m:  # Snakemake itself (the workflow's parse), not a rule's script
            continue
        calls = out.setdefault(m[1], set())
        for rec in lines[1:]:
            if "called" in rec:
                file, line, name = rec["called"]
                calls.add((str(Path(file).relative_to(ROOT / "irn_core")), line, name))
    return out


def _target(tree: ast.Module, line: int, qualname: str):
    """The AST node whose body an edit of the traced code object goes into: the function or
    class defined at ``line`` (lambdas and comprehensions: the function around them), or the
    module for its top level."""
    name = re.sub(r"((\.<locals>)?\.?<(lambda|listcomp|dictcomp|setcomp|genexpr)>)+$", "", qualname)
    if name in ("", "<module>"):
        return tree
    parts = name.replace(".<locals>", "").split(".")
    node = tree
    for part in parts:
        node = next(
            n
            for n in ast.walk(node)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part and n is not node
        )
    return node


def edit(path: Path, line: int, qualname: str) -> str:
    """Insert one statement into the code traced as (line, qualname) of ``path``: the first one
    of a function's or class's body (after its docstring), or one at the module's top level.
    Returns the original text."""
    text = path.read_text()
    tree = ast.parse(text)
    node = _target(tree, line, qualname)
    lines = text.splitlines(keepends=True)
    if node is tree:
        path.write_text(text + "\nprint('edited')\n")
        return text
    body = node.body
    first = (
        body[1]
        if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
        else body[0]
    )
    assert first.lineno > node.lineno, f"{path}: one-line body of {qualname}"
    lines.insert(first.lineno - 1, " " * first.col_offset + "_edited = 1\n")
    path.write_text("".join(lines))
    return text


@pytest.fixture
def code_copy(tmp_path, monkeypatch):
    """irn_core and the workflow scripts copied to tmp_path, the digest pointed at the copy."""
    shutil.copytree(ROOT / "irn_core", tmp_path / "irn_core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "workflow" / "scripts", tmp_path / "scripts")
    monkeypatch.setattr(dg, "PACKAGE", tmp_path / "irn_core")
    return tmp_path / "irn_core", tmp_path / "scripts"


def versions(scripts: Path, kind: str, rules=None) -> dict[str, str]:
    """Every rule's code version as common.smk computes it for ``dataset.kind``."""
    rules = rules or sorted(p.stem for p in scripts.glob("*.py"))
    return {r: dg.code_digest(scripts / f"{r}.py", dynamic=dynamic_imports(kind)) for r in rules}


def test_training_rules_cover_the_stage_they_run(code_copy):
    """The training scripts hand their stage to run_training (torchrun when train_processes > 1):
    an edit of the stage's function or of the training loop is a new code version of the rule."""
    package, scripts = code_copy
    stage_of = {
        "train_cam": "stages/cam.py",
        "train_irn": "stages/irnet.py",
        "train_maskrcnn": "stages/maskrcnn.py",
        "train_deeplab": "stages/deeplab.py",
    }
    for rule, module in stage_of.items():
        for path, name in ((package / module, rule), (package / "train.py", "fit")):
            before = versions(scripts, "toy", [rule])[rule]
            text = edit(path, 0, name)
            assert versions(scripts, "toy", [rule])[rule] != before, (rule, path, name)
            path.write_text(text)


def test_another_runner_of_the_stage_module_is_not_in_the_version(code_copy):
    """eval_cam lives beside train_cam: an edit of it re-evaluates the CAMs, and never retrains."""
    package, scripts = code_copy
    before = versions(scripts, "toy")
    edit(package / "stages/cam.py", 0, "eval_cam")
    after = versions(scripts, "toy")
    assert [r for r in before if before[r] != after[r]] == ["eval_cam"]


# the COCO reader: what datasets.reader("coco") serves (irn_core/coco.py also holds the COCO JSON and
# RLE helpers that every run uses for its pseudo labels); the toy generator
READERS = {
    "coco.py": ("COCODataset", "open_dataset", "default_label_classes", "split_ids", "category_names"),
    "toy.py": None,
}


def test_code_a_run_does_not_execute_is_not_in_its_versions(code_copy):
    """Every definition of the COCO reader edited: no rule of a toy or VOC run changes; every
    definition of the toy generator edited: no rule of a VOC run changes. The COCO run's rules
    that read the dataset do change."""
    package, scripts = code_copy
    before = {kind: versions(scripts, kind) for kind in ("toy", "voc", "coco")}
    for module, names in READERS.items():
        path = package / module
        original = path.read_text()
        for node in ast.parse(original).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and (names is None or node.name in names):
                edit(path, node.lineno, node.name)
        after = {kind: versions(scripts, kind) for kind in before}
        path.write_text(original)
        changed = {kind: [r for r in before[kind] if before[kind][r] != after[kind][r]] for kind in before}
        if module == "coco.py":
            assert changed["toy"] == [] and changed["voc"] == []
            assert {"check_dataset", "make_cam", "eval_cam", "train_cam", "eval_pseudo"} <= set(changed["coco"])
        else:
            assert changed["voc"] == ["prepare_toy"]  # prepare_toy is not a rule of a VOC run


@pytest.mark.slow
def test_every_function_a_rule_runs_is_in_its_version(tiny_run, code_copy):
    """Each irn_core function a rule's processes called on the tiny run, edited alone, changes
    that rule's code version."""
    package, scripts = code_copy
    calls = traced_rules(tiny_run.parents[1] / "trace")
    assert {"train_cam", "make_cam", "mine_relations", "make_labels", "train_maskrcnn", "summary"} <= set(calls)
    assert any(name == "crf_refine" for _, _, name in calls["mine_relations"])  # the forked CRF workers count
    functions = sorted({f for fs in calls.values() for f in fs})
    base = versions(scripts, "toy", list(calls))
    missed = []
    for file, line, name in functions:
        path = package / file
        node = _target(ast.parse(path.read_text()), line, name)
        if isinstance(node, ast.ClassDef):
            # a class body runs when its module is imported, defining the class; it holds only
            # definitions here (its methods are traced when they are called)
            assert all(
                isinstance(s, (ast.FunctionDef, ast.Assign, ast.AnnAssign, ast.Pass))
                or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
                for s in node.body
            ), name
            continue
        text = edit(path, line, name)
        now = versions(scripts, "toy", [r for r in calls if (file, line, name) in calls[r]])
        missed += [(r, file, name) for r, v in now.items() if v == base[r]]
        path.write_text(text)
    assert not missed, missed[:20]
