"""Toy Mask R-CNN recipes on the fixed pseudo labels of finished default toy runs: a recipe trained
on each run's labels, from its CAM network, and evaluated on its held-out val. Over several seeds
on one run it measures a recipe's seed noise; over the runs of bench_spread (each with its own
seed) it measures what the spread table's maskrcnn row would be, without rerunning the pipeline.
How config/config.yaml's detector settings were chosen.

Usage (one thread per process, as the pipeline's detector job):
  python benchmarks/bench_recipe.py RUN [RUN ...] --name NAME [--seeds 0 1 2] [--set section.key=value ...]
                                   [--cam-from FOLDER]
RUN is a finished run's folder (results/<run_name>); its settings are those it ran with
(results/<run_name>.yaml beside it, else config/config.yaml), then the --set changes. A run made
only up to the pseudo labels gets its labels and val ground truth as COCO JSON first (the
workflow's pseudo_coco and gt_coco, in the tree it ran in). Without
--seeds each run trains with its own maskrcnn.seed. --cam-from FOLDER starts each run's detector
from the CAM network of the run of the same name in FOLDER (e.g. another copy's results/) instead.
e.g. --name frozen0 --set maskrcnn.frozen_stages=0 (about 6 minutes per detector)
Writes each model and evaluation under /tmp/recipes/NAME/<run_name>_s<seed>/ and the mAP25/50/70
of every run and seed, with their range, to the section ``recipes`` of benchmarks/results.json.

  python benchmarks/bench_recipe.py --pool ENTRY [ENTRY ...] --name NAME
pools the detectors of several entries by run: each run's mAP50 averaged over every seed found
for it, and the range of those means (the labels' share of the width, with the detector's seed
noise averaged down). An ENTRY is an entry of ``recipes`` or a spread section (bench_spread's,
e.g. spread_noavx512: each run's detector with its own seed, as the pipeline trained it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    RESULTS,
    planned,
    run_settings,
    run_snakemake,
    snakemake_cmd,
    spread_of,
    train_eval_detector,
    update_entry,
)

COCO = ("labels/ins_pseudo_coco.json", "maskrcnn/gt_val_coco.json")  # what a detector trains and is scored on
EXPORTS = {"check_dataset", "pseudo_coco", "gt_coco"}  # the rules that may run to make them


def export_coco(run: Path) -> None:
    """Make the COCO files of a run folder made only up to the pseudo labels (``bench_spread.py
    --target pseudo_labels``, a ``bench_irn_seeds.py`` variant) with the workflow of the tree it
    ran in, on its own config; exit, running nothing, if that would redo any other stage."""
    missing = [name for name in COCO if not (run / name).is_file()]
    if not missing:
        return
    tree, config = run.resolve().parents[1], run.parent / f"{run.name}.yaml"
    if not (config.is_file() and (tree / "Snakefile").is_file()):
        sys.exit(f"{run}: {' and '.join(missing)} missing, and no {config} and Snakefile to make them with")
    cmd = snakemake_cmd(tree, config.resolve(), *[f"results/{run.name}/{name}" for name in missing], cores=1, code=tree)
    other = set(planned(run_snakemake(cmd + ["-n"], run.name))) - EXPORTS
    if other:
        sys.exit(f"{run}: making {' and '.join(missing)} would redo {', '.join(sorted(other))} (newer files upstream)")
    run_snakemake(cmd, run.name)


def pool(entries: list[str]) -> dict:
    """mAP50 per run over the detectors of ``entries`` (recipes entries or spread sections), the
    mean per run and the spread of those means."""
    results = json.loads(RESULTS.read_text())
    by_seed: dict[str, dict[int, float]] = {}

    def add(entry: str, run: str, seed: int, map50: float) -> None:
        if seed in by_seed.setdefault(run, {}):  # one detector counted twice would weigh double
            sys.exit(f"{entry}: run {run}, detector seed {seed} again (pool each detector once)")
        by_seed[run][seed] = map50

    for entry in entries:
        if entry in results.get("recipes", {}):
            for run, seeds in results["recipes"][entry]["runs"].items():
                for seed, row in seeds.items():
                    add(entry, run, int(seed), row["map50"])
        elif isinstance(results.get(entry), dict) and "runs" in results[entry] and "table" in results[entry]:
            for run, row in results[entry]["runs"].items():  # bench_spread sets every model's seed to the run's
                add(entry, run, row["seed"], row["numbers"]["maskrcnn.map50"])
        else:
            sys.exit(f"{RESULTS}: {entry!r} is neither an entry of section recipes nor a spread section")
    per_run = {run: list(seeds.values()) for run, seeds in by_seed.items()}
    mean = {run: sum(vals) / len(vals) for run, vals in per_run.items()}
    runs = {run: {"map50": [round(v, 4) for v in vals], "mean": round(mean[run], 4)} for run, vals in per_run.items()}
    for run, row in runs.items():
        print(f"{run}: {row['map50']} mean {row['mean']:.4f}")
    means = spread_of(list(mean.values()))
    print(
        f"per-run means {means['min']:.4f} - {means['max']:.4f} (width {means['range']:.4f}, mean {means['mean']:.4f})"
    )
    return {"pooled": entries, "runs": runs, "map50_of_means": means}


def main() -> None:
    from irn_core.device import set_threads

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", help="finished default toy runs (results/<run_name>)")
    ap.add_argument("--name", required=True, help="the recipe's name in results.json")
    ap.add_argument("--set", nargs="*", default=[], help="section.key=value changes (YAML values)")
    ap.add_argument("--seeds", nargs="+", type=int, default=None, help="default: each run's own")
    ap.add_argument("--cam-from", default=None, help="a folder of runs whose CAM networks to start from")
    ap.add_argument("--pool", nargs="+", metavar="ENTRY", help="pool these entries' detectors by run instead")
    args = ap.parse_args()
    if args.pool:
        update_entry("recipes", args.name, pool(args.pool))
        return
    if not args.runs:
        ap.error("give finished runs (or --pool)")
    set_threads(1)
    rows: dict[str, dict] = {}
    for run in map(Path, args.runs):
        export_coco(run)
        cfg = run_settings(run, args.set)
        cam = Path(args.cam_from or run.parent) / run.name / "cam/model.pt"
        for seed in args.seeds if args.seeds is not None else [cfg["maskrcnn"]["seed"]]:
            cfg["maskrcnn"]["seed"] = seed
            out = Path(f"/tmp/recipes/{args.name}/{run.name}_s{seed}")
            started = time.time()
            row = train_eval_detector(
                cfg, run, run / "labels/ins_pseudo_coco.json", cam, run / "maskrcnn/gt_val_coco.json", out
            )
            row["seconds"] = round(time.time() - started)
            rows.setdefault(run.name, {})[str(seed)] = row
            print(args.name, run.name, seed, row, flush=True)
    map50 = [row["map50"] for seeds in rows.values() for row in seeds.values()]
    spread = spread_of(map50)
    print(f"{args.name}: map50 {spread['min']:.3f} - {spread['max']:.3f} (width {spread['range']:.3f})")
    record = {"overrides": args.set, "cam_from": args.cam_from, "runs": rows, "map50": spread}
    update_entry("recipes", args.name, record)


if __name__ == "__main__":
    main()
