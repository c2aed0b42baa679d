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

LABELS = ("sem_pseudo", "ins_pseudo", "baseline_cc", "baseline_sem_cc", "walk")


def evaluate_first(run: Path, first: int, ids: list[str], folder: Path) -> dict:
    """``eval_pseudo`` of the run's label files on ``ids`` (its own first ``first`` eval ids)."""
    cfg = run_settings(run, [])
    listed = folder / f"{run.name}.txt"
    listed.write_text("".join(f"{i}\n" for i in ids))
    cfg["dataset"]["eval_list"] = str(listed)  # absolute: taken as it is, not under dataset.root
    out = eval_pseudo(cfg, *(str(run / "labels" / f"{k}.h5") for k in LABELS), str(folder / f"{run.name}.json"))
    return {
        "images": first,
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
        missing = [k for k in LABELS if not (run / "labels" / f"{k}.h5").is_file()]
        if missing:
            sys.exit(f"{run}: no labels/{missing[0]}.h5 (not a run folder with its pseudo labels)")
        ids = stage_ids(run_settings(run, []), "eval_list")
        if len(ids) < args.first:
            sys.exit(f"{run}: its eval list has {len(ids)} images, fewer than --first {args.first}")
        heads[run] = ids[: args.first]
    first_run, first_ids = next(iter(heads.items()))
    for run, ids in heads.items():
        if ids != first_ids:
            k = next(i for i, (a, b) in enumerate(zip(ids, first_ids)) if a != b)
            sys.exit(f"{run}: eval image {k} is '{ids[k]}', in {first_run} '{first_ids[k]}': not the same images")
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for run, ids in heads.items():
            rows[str(run)] = evaluate_first(run, args.first, ids, Path(folder))
            print(run.name, rows[str(run)], flush=True)
    update_entry("eval_subset", args.name, {"first": args.first, "runs": rows})
    print("| run | sem_pseudo.miou | ins_pseudo.map50 |\n|---|---|---|")
    for run, r in rows.items():
        print(f"| {Path(run).name} | {r['sem_pseudo.miou']:.3f} | {r['ins_pseudo.map50']:.3f} |")


if __name__ == "__main__":
    main()
