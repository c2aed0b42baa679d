"""The instance labels' background threshold (``labels.ins_bg_threshold``) down the line: on the
walk of finished runs (or bench_irn_seeds variants), the instance labels at each threshold, the
detector trained on them and its mAP on the held-out val. Where an IRNet leaves gaps in the
objects' outlines (bench_boundary_gaps), the walk leaks weak scores past them and the labels
overflow; a higher threshold cuts that tail. This measures whether it narrows the spread of the
labels and of the detector over IRNets, and at what cost to the mean.

Usage (one thread per process, as the pipeline's jobs on the toy run):
  python benchmarks/bench_ins_threshold.py RUN [RUN ...] --name NAME [--thresholds 0.25 0.35] [--seed S]
RUN is a run folder with labels/walk.h5 (results/<run_name>); its settings are those it ran with
(results/<run_name>.yaml beside it), the detector with the run's own maskrcnn.seed (or S: the
detector's own noise on the same labels), from the run's CAM network. Per run and threshold: the
labels' ins_pseudo map50 (the run's labels/eval.json sweep: the same walk, thresholded, as
eval_pseudo's own figure for labels made at that threshold), their instance count, and the
detector's map25/50/70 (about 5 minutes per detector). Files under
/tmp/ins_threshold/NAME/<run_name>_t<threshold>/; the numbers and each threshold's range over the
runs to entry NAME of section ``ins_threshold`` of benchmarks/results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import distinct_names, run_settings, spread_of, train_eval_detector, update_entry


def label_map50(run: Path, threshold: float) -> float:
    """ins_pseudo map50 of the run's walk at ``threshold``, from its evaluation's sweep."""
    ins = json.loads((run / "labels/eval.json").read_text())["ins_pseudo"]
    key = f"{threshold:.2f}"
    if key not in ins["sweep"]:
        sys.exit(f"{run}: threshold {key} is not in labels/eval.json's sweep ({', '.join(ins['sweep'])})")
    return ins["sweep"][key]["map50"]


def val_coco(cfg: dict, run: Path, folder: Path) -> Path:
    """The run's own val ground truth (maskrcnn/gt_val_coco.json), or, for a bench_irn_seeds variant
    that stopped at the labels, one made from its settings once under ``folder``."""
    from irn_core.stages.maskrcnn import gt_coco

    own = run / "maskrcnn/gt_val_coco.json"
    if own.is_file():
        return own
    made = folder / f"{run.name}_gt_val_coco.json"
    if not made.is_file():
        gt_coco(cfg, "val_list", str(made))
    return made


def main() -> None:
    from irn_core.device import set_threads
    from irn_core.stages.labels import make_labels, pseudo_coco

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run folders with labels/walk.h5")
    ap.add_argument("--name", required=True, help="entry of section ins_threshold")
    ap.add_argument("--thresholds", nargs="+", type=float, default=[0.25, 0.35])
    ap.add_argument("--seed", type=int, default=None, help="the detector's seed (default: each run's own)")
    args = ap.parse_args()
    set_threads(1)
    distinct_names(args.runs)
    for run in args.runs:  # before any training: every threshold is in every run's sweep
        if not (run / "labels/walk.h5").is_file():
            sys.exit(f"{run}: no labels/walk.h5 (a finished run folder is needed)")
        for t in args.thresholds:
            label_map50(run, t)
    rows: dict[str, dict] = {}
    for run in args.runs:
        for t in args.thresholds:
            seed = [] if args.seed is None else [f"maskrcnn.seed={args.seed}"]
            cfg = run_settings(run, [f"labels.ins_bg_threshold={t}", *seed])
            out = Path(f"/tmp/ins_threshold/{args.name}/{run.name}_t{t:.2f}")
            out.mkdir(parents=True, exist_ok=True)
            started = time.time()
            made = make_labels(cfg, str(run / "labels/walk.h5"), str(out / "sem.h5"), str(out / "ins.h5"))
            pseudo_coco(cfg, str(out / "ins.h5"), str(out / "ins_pseudo_coco.json"))
            val = val_coco(cfg, run, out.parent)
            r = train_eval_detector(cfg, run, out / "ins_pseudo_coco.json", run / "cam/model.pt", val, out)
            row = {
                "instances": made["instances"],
                "maskrcnn_seed": cfg["maskrcnn"]["seed"],
                "labels_map50": round(label_map50(run, t), 4),
                **{f"maskrcnn_{k}": v for k, v in r.items()},
                "seconds": round(time.time() - started),
            }
            rows.setdefault(run.name, {})[f"{t:.2f}"] = row
            print(args.name, run.name, f"{t:.2f}", row, flush=True)
    spread = {}
    for t in args.thresholds:
        per = [rows[r.name][f"{t:.2f}"] for r in args.runs]
        spread[f"{t:.2f}"] = {k: spread_of([p[k] for p in per]) for k in ("labels_map50", "maskrcnn_map50")}
        for k, v in spread[f"{t:.2f}"].items():
            width = f"width {v['range']:.3f}, mean {v['mean']:.3f}"
            print(f"{args.name} {t:.2f} {k}: {v['min']:.3f} - {v['max']:.3f} ({width})")
    update_entry("ins_threshold", args.name, {"runs": rows, "spread": spread})


if __name__ == "__main__":
    main()
