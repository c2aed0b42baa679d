"""Which objects the semantic pseudo labels of finished runs miss: per run, every ground-truth
object of the eval list by the share of its pixels its class's label covers (under 0.1: missed;
0.1 - 0.5; 0.5 - 0.9; 0.9 or more), the share of the objects' uncovered pixels that lie in missed
objects, the missed share per class, and the run's sem_pseudo.miou beside them. The semantic
labels' mIoU loses both where labels stop short of an object's outline and where an object gets
no label at all; this tells the two apart, run by run.

Usage: python benchmarks/bench_sem_coverage.py RUN [RUN ...] --name NAME [--note TEXT]
RUN is a run folder with its semantic labels (results/<run_name>/labels/sem_pseudo.h5), e.g. a
run and its bench_irn_seeds variants. Writes entry NAME of section ``sem_coverage`` of
benchmarks/results.json.
"""

from __future__ import annotations

import json
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import run_settings, runs_parser, update_entry

from irn_core.datasets import stage_dataset, stage_ids
from irn_core.io import open_stage

BINS = (0.1, 0.5, 0.9)  # the coverage classes' edges: missed below the first


def coverage(cfg: dict, sem_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coverage, class, pixels) of every ground-truth object of the eval list: the share of its
    pixels the semantic labels give its class."""
    data = stage_dataset(cfg)
    cov, cls, size = [], [], []
    with open_stage(sem_path) as f:
        for image_id in stage_ids(cfg, "eval_list"):
            label = f[image_id]["label"][()]
            masks, classes, _ = data.instance_gt(image_id)
            for mask, c in zip(masks, classes):
                mask = np.asarray(mask, bool)
                cov.append(float((label[mask] == c + 1).mean()))
                cls.append(int(c))
                size.append(int(mask.sum()))
    return np.array(cov), np.array(cls, np.int64), np.array(size, np.int64)


def summary(cov: np.ndarray, cls: np.ndarray, size: np.ndarray, classes: list[str]) -> dict:
    edges = (0.0, *BINS, 1.01)
    shares = {
        f"{lo:g}-{min(hi, 1):g}": round(float(((cov >= lo) & (cov < hi)).mean()), 4) for lo, hi in pairwise(edges)
    }
    lost = size * (1 - cov)
    missed = cov < BINS[0]
    return {
        "objects": len(cov),
        "coverage": shares,
        "missed": round(float(missed.mean()), 4),
        "lost_pixels_in_missed": round(float(lost[missed].sum() / max(lost.sum(), 1e-9)), 4),
        "missed_per_class": {name: round(float(missed[cls == k].mean()), 4) for k, name in enumerate(classes)},
    }


def main() -> None:
    args = runs_parser(__doc__, "run folders with semantic labels (results/<run_name>)").parse_args()
    record: dict = {"runs": {}}
    print("| run | sem_pseudo.miou | objects missed (< 0.1 covered) | 0.1-0.5 | 0.5-0.9 | >= 0.9 | lost px in missed |")
    print("|---|---|---|---|---|---|---|")
    for run in map(Path, args.runs):
        sem = run / "labels/sem_pseudo.h5"
        if not sem.is_file():
            sys.exit(f"{run}: no semantic labels ({sem})")
        cfg = run_settings(run, [])
        row = summary(*coverage(cfg, sem), cfg["dataset"]["classes"])
        ev = run / "labels/eval.json"
        row["sem_pseudo.miou"] = json.loads(ev.read_text())["sem_pseudo"]["miou"] if ev.is_file() else None
        row["crf"] = cfg["labels"]["crf"]
        record["runs"][run.name] = row
        c = list(row["coverage"].values())
        miou = "n/a" if row["sem_pseudo.miou"] is None else f"{row['sem_pseudo.miou']:.3f}"
        print(
            f"| {run.name} | {miou} | {c[0]:.3f} | {c[1]:.3f} | {c[2]:.3f} | {c[3]:.3f} | "
            f"{row['lost_pixels_in_missed']:.3f} |",
            flush=True,
        )
    if args.note:
        record["note"] = args.note
    update_entry("sem_coverage", args.name, record)


if __name__ == "__main__":
    main()
