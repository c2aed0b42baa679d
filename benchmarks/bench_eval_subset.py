"""Finished runs' pseudo labels evaluated on the first N images of their eval lists, as
``eval_pseudo`` evaluates them: runs whose eval lists differ but begin alike (a toy generated with
a larger ``toy.n_train`` begins with the images of the smaller one, same ``toy.seed``) compared on
the same images. The runs must share those N ids, in order.

Usage: python benchmarks/bench_eval_subset.py RUN [RUN ...] --first 600 --name NAME
RUN is a run folder with its labels (results/<run_name>, its config results/<run_name>.yaml
beside it). Writes entry NAME of section ``eval_subset`` of benchmarks/results.json: per run the
semantic mIoU and the instance mAP^r of its pseudo labels on those images (about 2 minutes per
run for 600 toy images at 1 thread).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import distinct_names, run_settings, update_entry

from irn_core.datasets import stage_ids
from irn_core.device import set_threads
from irn_core.stages.evaluate import eval_pseudo

# eval_pseudo's label files: its argument -> the file under the run's labels/
LABELS = {
    "sem_path": "sem_pseudo.h5",
    "ins_path": "ins_pseudo.h5",
    "cc_path": "baseline_cc.h5",
    "sem_cc_path": "baseline_sem_cc.h5",
    "walk_path": "walk.h5",
}


def evaluate_first(run: Path, cfg: dict, ids: list[str], folder: Path) -> dict:
    """``eval_pseudo`` of the run's label files on ``ids`` (the first of its eval ids), ``cfg``
    the run's settings."""
    listed = folder / f"{run.name}.txt"
    listed.write_text("".join(f"{i}\n" for i in ids))
    cfg = {**cfg, "dataset": {**cfg["dataset"], "eval_list": str(listed)}}  # absolute: not under dataset.root
    files = {arg: str(run / "labels" / name) for arg, name in LABELS.items()}
    out = eval_pseudo(cfg, **files, out_json=str(folder / f"{run.name}.json"))
    return {
        "images": len(ids),
        "sem_pseudo.miou": round(out["sem_pseudo"]["miou"], 4),
        **{f"ins_pseudo.{k}": round(out["ins_pseudo"][k], 4) for k in ("map25", "map50", "map70")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--first", type=int, required=True, help="the first N eval images")
    ap.add_argument("--name", required=True, help="entry of section eval_subset")
    args = ap.parse_args()
    distinct_names(args.runs)
    set_threads(1)
    heads = {}
    for run in args.runs:
        missing = [name for name in LABELS.values() if not (run / "labels" / name).is_file()]
        if missing:
            sys.exit(f"{run}: no labels/{missing[0]} (not a run folder with its pseudo labels)")
        cfg = run_settings(run, [])
        ids = stage_ids(cfg, "eval_list")
        if len(ids) < args.first:
            sys.exit(f"{run}: its eval list has {len(ids)} images, fewer than --first {args.first}")
        heads[run] = (cfg, ids[: args.first])
    first_run, (_, first_ids) = next(iter(heads.items()))
    for run, (_, ids) in heads.items():
        if ids != first_ids:
            k = next(i for i, (a, b) in enumerate(zip(ids, first_ids)) if a != b)
            sys.exit(f"{run}: eval image {k} is '{ids[k]}', in {first_run} '{first_ids[k]}': not the same images")
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for run, (cfg, ids) in heads.items():
            rows[str(run)] = evaluate_first(run, cfg, ids, Path(folder))
            print(run.name, rows[str(run)], flush=True)
    update_entry("eval_subset", args.name, {"first": args.first, "runs": rows})
    print("| run | sem_pseudo.miou | ins_pseudo.map50 |\n|---|---|---|")
    for run, r in rows.items():
        print(f"| {Path(run).name} | {r['sem_pseudo.miou']:.3f} | {r['ins_pseudo.map50']:.3f} |")


if __name__ == "__main__":
    main()
