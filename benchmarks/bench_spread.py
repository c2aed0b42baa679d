"""What a fresh machine gets: the default toy pipeline over several training seeds and thread
counts, every summary number as mean and range.

Each run is README command 1 with the seeds of the four trained models (cam, irn, maskrcnn,
deeplab) set to one value and ``threads`` to another; the toy data (toy.seed) stays the same.
A seed stands in for what differs between machines (the float summation order of other CPU
kernels or thread counts changes training the way a seed does); the thread counts are the two
that 2-core machines run. Runs are kept under results/<run_name>_s<seed>_t<threads>/, so an
interrupted benchmark continues where it stopped.

Runs side by side: Snakemake locks a working folder, so run each part in a copy of the tree
(``git worktree add``) with ``--seeds``/``--threads`` of its own, then collect the table here with
``--from COPY ...``: a run finished in a copy with the same config (its results/<run>.yaml, and
the run's summary written after it) is read from that copy's run folder, not run again.
``--only-finished`` collects just those (a preview on some of the runs) and runs nothing here.
A run's ``wall_s`` is the clock of the bench_spread calls that ran its config (recorded in the run
folder's bench_spread_wall.json: a call that continues an interrupted run adds to it, and a call
on a changed config that reuses the earlier config's files counts only its own work);
``elapsed_s`` is the summary's first output to last.
Results depend on seeds and thread counts, not on what else the machine runs; the time does:
runs whose threads add up to more than the cores slow each other many times over (two 2-thread
runs on 2 cores: IRNet about 5 minutes an epoch against 40 s alone), so on 2 cores pair 1-thread
runs and run a 2-thread one alone.

A variant of the recipe (``--set``) names its runs with ``--set run_name=NAME`` (results/NAME_s<seed>_t<threads>/),
so that they do not overwrite the default runs; a variant that changes the toy data also needs a
``dataset.root`` of its own.

Usage: python benchmarks/bench_spread.py [--seeds 0 1 2] [--threads 1 2] [--set section.key=value ...]
                                         [--from COPY ... [--only-finished]]
       (the 1,200-image toy: about 30 minutes per run at 2 threads alone on a 2-core machine, 1,852 s
       for a fresh clone's default run, 1,755 s for the seed-1 run without maskrcnn_gt; a 1-thread
       run about 45 minutes beside another one, 2,691 s for seed 0; so the 6 runs take about 3
       hours, two 1-thread runs at a time)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import ROOT, apply_changes, load_config, run_snakemake, snakemake_cmd, spread_of, update_results

from irn_core.layout import summary_name

KEYS = {  # summary section -> the numbers reported
    "cam": ("miou", "best_miou"),
    "sem_pseudo": ("miou",),
    "ins_pseudo": ("map25", "map50", "map70", "map75"),
    "baseline_cc": ("map50",),
    "baseline_sem_cc": ("map50",),
    "maskrcnn": ("map25", "map50", "map70", "map75", "coco_segm_ap"),
    "maskrcnn_gt": ("map50", "coco_segm_ap"),
    "deeplab": ("miou",),
}
SEEDED = ("cam", "irn", "maskrcnn", "deeplab")


def run_config(base: dict, seed: int, threads: int, changes: list[str]) -> dict:
    """The config of one run: ``changes`` applied (``run_name`` among them names a variant's runs),
    then the run's name, thread count and seeds."""
    cfg = apply_changes(json.loads(json.dumps(base)), changes)
    cfg["run_name"] = f"{cfg['run_name']}_s{seed}_t{threads}"
    cfg["threads"] = threads
    for section in SEEDED:
        cfg[section]["seed"] = seed
    return cfg


def numbers(summary: dict) -> dict[str, float]:
    return {
        f"{s}.{k}": summary[s][k]
        for s, keys in KEYS.items()
        if s in summary
        for k in keys
        if summary[s].get(k) is not None
    }


def summary_file(target: str | None) -> str:
    return f"{summary_name(target or 'all')}.json"


def recorded(copies: list[str], cfg: dict, target: str | None = None) -> dict | None:
    """The record of a run finished in one of the ``copies`` of the tree: the copy ran it with
    this config (its results/<run>.yaml) and wrote the run's summary after that config."""
    name = cfg["run_name"]
    for copy in map(Path, copies):
        config, summary = copy / "results" / f"{name}.yaml", copy / "results" / name / summary_file(target)
        if not config.is_file() or not summary.is_file() or summary.stat().st_mtime < config.stat().st_mtime:
            continue
        if yaml.safe_load(config.read_text()) != cfg:
            continue
        s = json.loads(summary.read_text())
        return {
            "seed": cfg["cam"]["seed"],
            "threads": cfg["threads"],
            **timing(copy / "results" / name, config),
            "elapsed_s": round(s["seconds"]["elapsed"], 1),
            "numbers": numbers(s),
            "copy": str(copy),
        }
    return None


WALL = "bench_spread_wall.json"  # in a run folder: the clock of each bench_spread call that ran it


def timing(run: Path, config: Path) -> dict:
    """``wall_s``: the seconds the bench_spread calls that ran this config in ``run`` took, together
    (a run interrupted and continued has two); None when none was timed since the config was written
    (a run made by hand). ``elapsed_s`` beside it is the summary's first output to last, which spans
    every session that made a file of the run, other configs' included."""
    path = run / WALL
    calls = json.loads(path.read_text()) if path.is_file() else []
    calls = [c for c in calls if c["started"] >= config.stat().st_mtime - 1]  # 1 s: clock granularity
    return {"wall_s": round(sum(c["wall_s"] for c in calls), 1) if calls else None, "calls": len(calls)}


def time_call(run: Path, started: float, seconds: float) -> None:
    """Add one bench_spread call's clock to the run folder's record."""
    path = run / WALL
    calls = json.loads(path.read_text()) if path.is_file() else []
    path.write_text(json.dumps([*calls, {"started": started, "wall_s": round(seconds, 1)}], indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--set", nargs="*", default=[], help="section.key=value changes to the config (YAML values)")
    ap.add_argument("--target", default=None, help="a named target (default: the whole pipeline)")
    ap.add_argument("--name", default="spread", help="the results.json section")
    ap.add_argument("--from", dest="copies", nargs="*", default=[], help="copies of the tree whose runs count")
    ap.add_argument(
        "--only-finished", action="store_true", help="collect the runs finished in the copies; run none here"
    )
    args = ap.parse_args()
    base = load_config(args.config)
    runs = {}
    for threads in args.threads:
        for seed in args.seeds:
            cfg = run_config(base, seed, threads, args.set)
            done = recorded(args.copies, cfg, args.target)
            if done:
                runs[cfg["run_name"]] = done
                print(cfg["run_name"], "(finished in a copy)", json.dumps(done["numbers"]), flush=True)
                continue
            if args.only_finished:
                print(cfg["run_name"], "(not finished in a copy: left out)", flush=True)
                continue
            path = ROOT / "results" / f"{cfg['run_name']}.yaml"
            path.parent.mkdir(exist_ok=True)
            text = yaml.safe_dump(cfg, sort_keys=False)
            if not path.is_file() or path.read_text() != text:  # its time marks the config's calls
                path.write_text(text)
            started, t = time.time(), time.perf_counter()
            targets = [args.target] if args.target else []
            cmd = snakemake_cmd(ROOT, path, *targets, "--rerun-incomplete", cores=threads)  # a killed job reruns
            run_snakemake(cmd, cfg["run_name"])
            folder = ROOT / "results" / cfg["run_name"]
            time_call(folder, started, time.perf_counter() - t)
            summary = json.loads((folder / summary_file(args.target)).read_text())
            runs[cfg["run_name"]] = {
                "seed": seed,
                "threads": threads,
                **timing(folder, path),
                "elapsed_s": round(summary["seconds"]["elapsed"], 1),
                "numbers": numbers(summary),
            }
            print(cfg["run_name"], json.dumps(runs[cfg["run_name"]]["numbers"]), flush=True)
    table = {}
    for key in dict.fromkeys(k for r in runs.values() for k in r["numbers"]):
        values = [r["numbers"][key] for r in runs.values() if key in r["numbers"]]
        table[key] = {**spread_of(values), "runs": len(values)}
    print("\n| summary key | mean | range (min - max) | width |\n|---|---|---|---|")
    for key, row in table.items():
        print(f"| `{key}` | {row['mean']:.3f} | {row['min']:.3f} - {row['max']:.3f} | {row['range']:.3f} |")
    update_results(
        args.name,
        {
            "config": args.config,
            "changes": args.set,
            "target": args.target,
            "seeds": args.seeds,
            "threads": args.threads,
            "table": table,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
