"""The CAM network's share of the semantic labels, without IRNet: each finished run's CAMs walked on
ground-truth boundaries (the ``gt_boundary`` oracle of the diagnostics, over the whole eval list)
and labelled as the pipeline labels them. A CAM recipe can be judged on it from the ``cams`` target
alone (``bench_spread.py --target cams``): over the 40-epoch spread it follows ``sem_pseudo.miou``
run by run.

Beside it, the run's own semantic labels (``labels/eval.json``, when the run has them): the same
CAMs walked on IRNet's boundary map, so the difference is what that IRNet adds or takes away.

It also says where the labels go wrong: the share of each ground-truth class's pixels labelled as
each class (rows: ground truth, background first). A CAM that misses an object and fires on the
clutter instead labels background as that class, since each class's CAM is normalised by its own
maximum and the walk fills the background region with it.

Usage: python benchmarks/bench_cam_walk.py RUN [RUN ...] --name NAME
       RUN is a run folder with cam/cams.h5 (results/<run_name>, in this tree or a copy); its
       settings are its results/<run_name>.yaml (else config/config.yaml). About 1 - 2 minutes per
       run of the 600-image toy (one thread). Writes section ``cam_walk`` of
       benchmarks/results.json, one entry per NAME.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import own_labels, run_settings, update_entry


def walk_on_gt_boundaries(run: Path) -> dict:
    """mIoU, per-class IoU and the row-normalised confusion of the run's CAMs walked on
    ground-truth boundaries, with the CAM evaluation of the run beside it."""
    import torch

    from irn_core.cam import stage_cams
    from irn_core.datasets import stage_dataset, stage_ids
    from irn_core.evaluate import confusion, semantic_report
    from irn_core.io import open_stage
    from irn_core.progress import Progress
    from irn_core.synthesis import gt_boundary, semantic_labels

    cfg = run_settings(run, [])
    data = stage_dataset(cfg)
    ids = stage_ids(cfg, "eval_list")
    n = len(cfg["dataset"]["classes"]) + 1
    conf = np.zeros((n, n), np.int64)
    with open_stage(str(run / "cam/cams.h5")) as cams, torch.no_grad():
        for image_id in Progress(ids, f"cam_walk {run.name}"):
            keys, cam_s4 = stage_cams(cams[image_id], 4)
            semantic = data.semantic_gt(image_id)
            label, _ = semantic_labels(
                torch.from_numpy(cam_s4),
                keys,
                gt_boundary(semantic),
                semantic.shape,
                cfg["propagate"],
                cfg["labels"]["sem_bg_threshold"],
            )
            conf += confusion(label.numpy(), semantic, n)
    report = semantic_report(conf, len(ids))
    cam_eval = json.loads((run / "cam/eval.json").read_text())
    evaluation = own_labels(run)  # the same CAMs walked on the run's IRNet's boundaries
    own = evaluation["sem_pseudo"] if evaluation else None
    return {
        "images": len(ids),
        "miou": round(report["miou"], 4),
        "per_class_iou": [round(v, 4) for v in report["per_class_iou"]],
        "labelled_as": np.round(conf / np.maximum(conf.sum(1, keepdims=True), 1), 4).tolist(),
        "sem_pseudo.miou": round(own["miou"], 4) if own else None,
        "sem_pseudo.per_class_iou": [round(v, 4) for v in own["per_class_iou"]] if own else None,
        "cam.best_miou": round(cam_eval["best_miou"], 4),
        "cam.miou": round(cam_eval["miou"], 4),
        "cam_epochs": cfg["cam"]["epochs"],
        "seed": cfg["cam"]["seed"],
    }


def main() -> None:
    from irn_core.device import set_threads

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders with cam/cams.h5 (results/<run_name>)")
    ap.add_argument("--name", required=True, help="the entry's name in results.json section cam_walk")
    args = ap.parse_args()
    set_threads(1)
    rows = {}
    for run in map(Path, args.runs):
        rows[run.name] = walk_on_gt_boundaries(run)
        r = rows[run.name]
        own = "" if r["sem_pseudo.miou"] is None else f", on its IRNet's boundaries {r['sem_pseudo.miou']:.3f}"
        print(f"{run.name}: mIoU {r['miou']:.3f} {r['per_class_iou']}{own}, cam.best_miou {r['cam.best_miou']:.3f}")
    values = [r["miou"] for r in rows.values()]
    entry = {"runs": rows, "miou_min": min(values), "miou_max": max(values)}
    print(f"mIoU {min(values):.3f} - {max(values):.3f} over {len(values)} runs")
    own = [r["sem_pseudo.miou"] for r in rows.values() if r["sem_pseudo.miou"] is not None]
    if own:
        entry.update({"sem_pseudo_min": min(own), "sem_pseudo_max": max(own)})
        print(f"on their IRNets' boundaries {min(own):.3f} - {max(own):.3f} over {len(own)} runs")
    update_entry("cam_walk", args.name, entry)


if __name__ == "__main__":
    main()
