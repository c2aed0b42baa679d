"""The instance labels' background threshold (``labels.ins_bg_threshold``) down the line: on the
walk of finished runs (or bench_irn_seeds variants), the instance labels at each threshold, the
detector trained on them and its mAP on the held-out val. Where an IRNet leaves gaps in the
objects' outlines (bench_boundary_gaps), the walk leaks weak scores past them and the labels
overflow; a higher threshold cuts that tail. This measures whether it narrows the spread of the
labels and of the detector over IRNets, and at what cost to the mean.

Usage (one thread per process, as the pipeline's jobs on the toy run):
  python benchmarks/bench_ins_threshold.py RUN [RUN ...] --name NAME [--thresholds 0.25 0.35] [--seed S]
                                          [--labels-only]
RUN is a run folder with labels/walk.h5 (results/<run_name>); its settings are those it ran with
(results/<run_name>.yaml beside it), the detector with the run's own maskrcnn.seed (or S: the
detector's own noise on the same labels), from the run's CAM network. Per run and threshold: the
labels' ins_pseudo map50/70/75 and, with the semantic threshold at the same value, sem_pseudo mIoU
(the run's labels/eval.json sweeps: the same walk, thresholded, as eval_pseudo's own figures for
labels made at that threshold), their instance count, and the detector's map25/50/70/75 (about 5
minutes per detector). ``--labels-only`` reads the sweeps alone (seconds; a run with
labels/eval.json is enough): whether a threshold narrows the labels over other IRNets than those
it was chosen on. Files under /tmp/ins_threshold/NAME/<run_name>_t<threshold>/; the numbers and
each threshold's range over the runs to entry NAME of section ``ins_threshold`` of
benchmarks/results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import distinct_names, run_settings, spread_of, train_eval_detector, update_entry

LABEL_KEYS = ("labels_map50", "labels_map70", "labels_map75", "labels_sem_miou")


def label_figures(run: Path, threshold: float) -> dict[str, float]:
    """ins_pseudo map50/70/75 and sem_pseudo mIoU of the run's walk at ``threshold``, from its
    evaluation's sweeps (``LABEL_KEYS``)."""
    ev = json.loads((run / "labels/eval.json").read_text())
    key = f"{threshold:.2f}"
    for kind in ("ins_pseudo", "sem_pseudo"):
        if key not in ev[kind]["sweep"]:
            sys.exit(
                f"{run}: threshold {key} is not in labels/eval.json's {kind} sweep ({', '.join(ev[kind]['sweep'])})"
            )
    ins = ev["ins_pseudo"]["sweep"][key]
    return {
        **{f"labels_{k}": round(ins[k], 4) for k in ("map50", "map70", "map75")},
        "labels_sem_miou": round(ev["sem_pseudo"]["sweep"][key], 4),
    }


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
    ap.add_argument("--labels-only", action="store_true", help="the labels' sweeps alone, no detector")
    args = ap.parse_args()
    set_threads(1)
    distinct_names(args.runs)
    needed = "labels/eval.json" if args.labels_only else "labels/walk.h5"
    figures: dict[tuple[str, float], dict] = {}
    for run in args.runs:  # before any training: every threshold is in every run's sweep
        if not (run / needed).is_file():
            sys.exit(f"{run}: no {needed} (a finished run folder is needed)")
        figures.update({(run.name, t): label_figures(run, t) for t in args.thresholds})
    rows: dict[str, dict] = {}
    for run in args.runs:
        for t in args.thresholds:
            if args.labels_only:
                rows.setdefault(run.name, {})[f"{t:.2f}"] = figures[run.name, t]
                continue
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
                **figures[run.name, t],
                **{f"maskrcnn_{k}": v for k, v in r.items()},
                "seconds": round(time.time() - started),
            }
            rows.setdefault(run.name, {})[f"{t:.2f}"] = row
            print(args.name, run.name, f"{t:.2f}", row, flush=True)
    spread = {}
    for t in args.thresholds:
        per = [rows[r.name][f"{t:.2f}"] for r in args.runs]
        keys = LABEL_KEYS if args.labels_only else (*LABEL_KEYS, "maskrcnn_map50", "maskrcnn_map75")
        spread[f"{t:.2f}"] = {k: spread_of([p[k] for p in per]) for k in keys}
        for k, v in spread[f"{t:.2f}"].items():
            width = f"width {v['range']:.3f}, mean {v['mean']:.3f}"
            print(f"{args.name} {t:.2f} {k}: {v['min']:.3f} - {v['max']:.3f} ({width})")
    update_entry("ins_threshold", args.name, {"runs": rows, "spread": spread})


if __name__ == "__main__":
    main()
