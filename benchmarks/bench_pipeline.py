"""The whole default toy pipeline (README's main command): wall time per stage, from Snakemake's
benchmark files of a finished run. Run it after `snakemake --cores 2` (optionally from scratch:
--fresh deletes results/<run>/ and the toy data first and runs the pipeline).

Usage: python benchmarks/bench_pipeline.py [--fresh] [--run toy_default]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import update_results

from irn_core.stages.summary import elapsed_seconds, stage_seconds

THROUGH_PSEUDO = (
    "prepare_toy",
    "check_dataset_train",
    "check_dataset_eval",
    "train_cam",
    "make_cam",
    "eval_cam",
    "mine_relations",
    "train_irn",
    "infer_irn",
    "make_labels",
    "pseudo_coco",
    "baselines",
    "eval_pseudo",
    "diagnostics",
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default="toy_default")
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    results = root / "results" / args.run
    if args.fresh:
        shutil.rmtree(results, ignore_errors=True)
        shutil.rmtree(root / "data" / "toy", ignore_errors=True)
        subprocess.run(["snakemake", "--cores", "2"], cwd=root, check=True)
    bench = results / "benchmarks"
    stages = stage_seconds(bench)
    row = {
        "total_s": elapsed_seconds(bench),
        "through_pseudo_labels_s": elapsed_seconds(bench, until="eval_pseudo"),
        "sum_of_stages_s": round(sum(stages.values()), 1),
        "sum_of_stages_through_pseudo_labels_s": round(sum(v for k, v in stages.items() if k in THROUGH_PSEUDO), 1),
        "stages": stages,
        "note": "total_s and through_pseudo_labels_s: wall clock of the run with --cores 2 (first rule's "
        "start to the last rule's end, or to eval_pseudo's end); rules that Snakemake ran side by "
        "side overlap, so the per-stage times add up to more",
    }
    print(row)
    update_results("toy_pipeline", row)


if __name__ == "__main__":
    main()
