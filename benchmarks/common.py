"""Shared helpers for the benchmark scripts: machine description, timing, results file."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).with_name("results.json")
ROOT = Path(__file__).resolve().parents[1]


def snakemake_cmd(work, config, *args, cores: int = 2, code: Path = ROOT) -> list[str]:
    """The command that runs the workflow of ``code`` (default: this tree) in folder ``work`` on
    the config file ``config`` with ``args`` (targets and flags)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(Path(code) / "Snakefile"), "-d", str(work)]
    return [*cmd, "--configfile", str(config), "--cores", str(cores), *args]


def snakemake_error(r: subprocess.CompletedProcess, chars: int = 3000) -> str:
    """The end of a failed Snakemake call's error: a failed job's is on stderr, but an error while
    it builds the DAG (an IncompleteFilesException, say) is on stdout, with stderr empty."""
    return (r.stderr or r.stdout)[-chars:]


def run_snakemake(cmd: list[str], name: str) -> str:
    """Run a ``snakemake_cmd`` command; its stdout, or exit naming ``name`` with Snakemake's error."""
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{name}: snakemake failed\n{snakemake_error(r)}")
    return r.stdout


def planned(stdout: str) -> dict[str, int]:
    """Rule -> job count from a Snakemake dry run's job table (empty when nothing is to be done)."""
    if "job " not in stdout:
        return {}
    table = stdout.split("job ", 1)[1].split("total", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


NOT_COPIED = ("maskrcnn", "deeplab", "report", "predict", "public")  # supervised models and reports


def copy_run(source: Path, dest: Path, remove: tuple[str, ...] = ()) -> None:
    """Replace ``dest`` with a copy of the run folder ``source`` up to the pseudo labels (NOT_COPIED
    left out), without the files ``remove`` (paths in the folder that would be the source's, not
    the copy's)."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(source, dest, ignore=lambda d, names: [n for n in names if n in NOT_COPIED])
    for path in remove:
        (dest / path).unlink(missing_ok=True)


def machine() -> str:
    """The CPU (with the instruction sets that pick oneDNN's kernels, and so change trained models:
    README "Reproducibility"), its cores, torch and the GPU."""
    cpu, isa = platform.processor() or platform.machine(), ""
    try:
        info = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        info = []
    first = info[: next((i for i, line in enumerate(info) if not line.strip()), len(info))]  # the first CPU
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in first)}
    if fields:
        flags = set(fields.get("flags", "").split())
        sets = [name for flag, name in (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("amx_tile", "AMX")) if flag in flags]
        cpu = fields.get("model name", cpu)
        kind = f"family {fields.get('cpu family', '?')} model {fields.get('model', '?')}"
        isa = f" ({kind}; {', '.join(sets) or 'no AVX2'})"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    # no thread count: it is each benchmark's (set per run), not the machine's
    return f"{cpu}{isa}, {os.cpu_count()} cores, torch {torch.__version__}, {gpu}"


def timed(fn, repeat: int = 1):
    """(best seconds over ``repeat`` runs, last result)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best, out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_config(name: str) -> dict:
    """A config of the repository as the workflow sees it: validated, every key it leaves out set
    to the schema's default (the paper's value)."""
    import yaml
    from snakemake.utils import validate

    root = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((root / name).read_text())
    validate(cfg, str(root / "workflow/schemas/config.schema.yaml"))
    return cfg


def apply_changes(cfg: dict, changes: list[str]) -> dict:
    """Set each ``section.key=value`` of ``changes`` (YAML values, any depth) in ``cfg``; returns it."""
    import yaml

    for change in changes:
        key, value = change.split("=", 1)
        *path, last = key.split(".")
        node = cfg
        for part in path:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    return cfg


def runs_parser(doc: str, runs_help: str) -> argparse.ArgumentParser:
    """The arguments of a benchmark over finished run folders that writes one named entry: RUN ...,
    ``--name`` and ``--note``."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help=runs_help)
    ap.add_argument("--name", required=True, help="the entry's name in results.json")
    ap.add_argument("--note", default=None, help="what the runs are, kept with the entry")
    return ap


def run_settings(run: Path, changes: list[str]) -> dict:
    """The config the run folder ``run`` (results/<run_name>) ran with: its results/<run_name>.yaml
    beside it, else config/config.yaml (validated, defaults filled), with ``changes`` applied, one
    thread, and a relative ``dataset.root`` resolved against the folder the run ran in."""
    own = run.parent / f"{run.name}.yaml"
    cfg = apply_changes(load_config(str(own if own.is_file() else ROOT / "config/config.yaml")), changes)
    cfg["threads"] = 1
    root = Path(cfg["dataset"]["root"])  # relative: to the folder the run ran in (<it>/results/<run>)
    cfg["dataset"]["root"] = str(root if root.is_absolute() else run.resolve().parents[1] / root)
    return cfg


def own_labels(run: Path) -> dict | None:
    """The run folder's labels/eval.json when its labels were made after its IRNet, else None (a
    bench_irn_seeds variant holds its parent run's evaluation until its own labels are made)."""
    labels, irn = run / "labels/eval.json", run / "irn/model.pt"
    if not labels.is_file() or (irn.is_file() and labels.stat().st_mtime < irn.stat().st_mtime):
        return None
    return json.loads(labels.read_text())


def train_eval_detector(cfg: dict, run: Path, coco_json: Path, cam_model: Path, val_json: Path, out: Path) -> dict:
    """Mask R-CNN trained as the pipeline trains it (``cfg``'s maskrcnn settings) on ``coco_json``
    from ``cam_model``, with the run folder's dataset manifests, and evaluated on ``val_json``; model,
    evaluation and predictions under ``out``. Returns its map25/50/70/75."""
    from irn_core.stages.maskrcnn import eval_maskrcnn, train_maskrcnn

    out.mkdir(parents=True, exist_ok=True)
    manifests = [str(run / "dataset/train.json"), str(run / "dataset/eval.json")]
    train_maskrcnn(cfg, str(coco_json), str(cam_model), manifests, str(out / "model.pt"), str(out / "checkpoints"))
    r = eval_maskrcnn(cfg, str(out / "model.pt"), str(val_json), str(out / "eval.json"), str(out / "predictions.json"))
    return {k: round(r[k], 4) for k in ("map25", "map50", "map70", "map75")}


def spread_of(values: list[float]) -> dict:
    """Mean, min, max and range (max - min) of a figure over runs or seeds, rounded to 4 places."""
    return {
        "mean": round(sum(values) / len(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "range": round(max(values) - min(values), 4),
    }


def distinct_names(runs: list[Path]) -> None:
    """Exit if two run folders share a name (benchmarks key their rows and outputs by it)."""
    names = [run.name for run in runs]
    if len(set(names)) < len(names):
        sys.exit(f"two run folders with one name: {sorted({n for n in names if names.count(n) > 1})}")


def update_results(key: str, value) -> dict:
    """Merge one section into benchmarks/results.json."""
    return _update(key, lambda section: value)


def update_entry(key: str, name: str, value) -> dict:
    """Set entry ``name`` of section ``key`` of benchmarks/results.json, keeping its other entries
    (its machine is the entry's, ``machines`` key ``<key>.<name>``: entries of one section may come
    from several machines)."""
    return _update(key, lambda section: {**(section or {}), name: value}, f"{key}.{name}")


def _update(key: str, change, machine_key: str | None = None) -> dict:
    """Read benchmarks/results.json, set section ``key`` to change(its current value or None) and
    write it back, holding the lock throughout (benchmarks running at once each rewrite the whole
    file: unlocked, one could drop another's section). ``machines`` records the machine each
    section was last written on (a section made elsewhere and merged here says so in its note)."""
    with open(RESULTS.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        data.pop("machine", None)  # once the last writer's machine, whatever section it wrote
        data.setdefault("machines", {})[machine_key or key] = machine()
        data[key] = change(data.get(key))
        tmp = RESULTS.with_suffix(".json.tmp")  # a killed write leaves the previous file whole
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(RESULTS)
    return data
