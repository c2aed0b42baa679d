"""Which rules a code edit replans: for every irn_core module, the rules whose code version (the
``code`` param of every rule, workflow/rules/common.smk) changes when the module is edited.

In a temporary copy of irn_core and workflow/scripts, each top-level function and class of a
module is edited in turn (one statement inserted into its body, as tests/test_code_versions.py
does); a module's row lists the rules that any of those edits replans, and for the stage modules
each runner gets a row of its own.

Usage: python benchmarks/bench_code_versions.py [--kind toy|voc|coco]   (about 10 s)
"""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).parent))
from common import update_results  # noqa: E402
from test_code_versions import edit, versions  # noqa: E402

import irn_core.digest as dg  # noqa: E402


def table(kind: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """({module: rules replanned by an edit of any of its definitions}, {stage module:runner: rules})."""
    tmp = Path(tempfile.mkdtemp(prefix="codever"))
    shutil.copytree(ROOT / "irn_core", tmp / "irn_core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "workflow" / "scripts", tmp / "scripts")
    dg.PACKAGE = tmp / "irn_core"
    base = versions(tmp / "scripts", kind)
    modules, runners = {}, {}
    for path in sorted((tmp / "irn_core").rglob("*.py")):
        rel = str(path.relative_to(tmp))
        hit: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                text = edit(path, node.lineno, node.name)
                now = versions(tmp / "scripts", kind)
                path.write_text(text)
                changed = [r for r in base if now[r] != base[r]]
                hit.update(changed)
                if "/stages/" in rel and not node.name.startswith("_") and isinstance(node, ast.FunctionDef):
                    runners[f"{rel}:{node.name}"] = changed
        modules[rel] = sorted(hit)
    shutil.rmtree(tmp)
    return modules, runners


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", default="toy", choices=("toy", "voc", "coco"))
    args = ap.parse_args()
    modules, runners = table(args.kind)
    print(f"dataset kind {args.kind}: rules replanned by an edit of any definition of the module")
    for module, rules in modules.items():
        print(f"{module:<34} {len(rules):>2}  {' '.join(rules)}")
    print("\nrules replanned by an edit of one function of a stage module")
    for runner, rules in runners.items():
        print(f"{runner:<52} {' '.join(rules)}")
    update_results(f"code_versions_{args.kind}", {"modules": modules, "stage_functions": runners})


if __name__ == "__main__":
    main()
