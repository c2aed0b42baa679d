"""What the labels' dense CRF does to the instance pseudo labels of finished runs, and
``labels.crf_min_kept``: per run, the instances labelled from its walk as make_labels labels them
(the run's ``labels.ins_bg_threshold`` and ``min_fraction``), judged on the eval list before the
CRF and refined by it at each ``--min-kept`` value (mAP^r at the run's IoU levels); how many
instances the CRF (at 0: its outline always) leaves no pixel, under a quarter and under half of
their pixels; and the ground-truth objects an instance matches before the CRF (same class, IoU at
least 0.25) and none matches after it, by what the CRF did to the best such instance: emptied it,
left it under half its pixels, or kept half or more (its outline moved off the object).

Usage: python benchmarks/bench_crf_kept.py RUN [RUN ...] --name NAME [--min-kept 0 0.25 0.5]
                                           [--set section.key=value ...] [--note TEXT]
RUN is a run folder with its walk (results/<run_name>/labels/walk.h5), e.g. a bench_irn_seeds
variant; ``--set`` changes the runs' config (e.g. labels.ins_bg_threshold=0.35). Writes entry NAME
of section ``crf_kept`` of benchmarks/results.json, with each value's mean and range over the runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import distinct_names, run_settings, runs_parser, spread_of, update_entry

from irn_core.datasets import stage_dataset, stage_ids
from irn_core.evaluate import InstanceEvaluator, mask_iou
from irn_core.io import open_stage
from irn_core.progress import Progress
from irn_core.stages.labels import read_walk
from irn_core.synthesis import crf_outlines, instances_from_walk, keep_taken

LOST_IOU = 0.25  # an object is recognised by an instance of its class at this IoU or more


def lost_objects(masks, classes, refined, gt_masks, gt_classes) -> list[int]:
    """Ground-truth objects an instance of ``masks`` matches (same class, IoU >= LOST_IOU) and none
    of ``refined`` (the same instances, aligned, after the CRF): the index of the best match of each."""
    if not len(gt_masks) or not len(masks):
        return []
    same = np.asarray(classes)[:, None] == np.asarray(gt_classes)[None, :]
    before = np.where(same, mask_iou(masks, gt_masks), 0.0)
    after = np.where(same, mask_iou(refined, gt_masks), 0.0)
    lost = (before.max(0) >= LOST_IOU) & (after.max(0) < LOST_IOU)
    return [int(before[:, g].argmax()) for g in np.nonzero(lost)[0]]


@torch.no_grad()
def judge_run(cfg: dict, walk_path: Path, values: list[float]) -> dict:
    lab = cfg["labels"]
    data = stage_dataset(cfg)
    ids = stage_ids(cfg, "eval_list")
    n_cls, ious = len(cfg["dataset"]["classes"]), cfg["evaluate"]["iou_thresholds"]
    evals = {"before": InstanceEvaluator(n_cls, ious), **{v: InstanceEvaluator(n_cls, ious) for v in values}}
    counts = dict.fromkeys(("instances", "emptied", "under_quarter", "under_half"), 0)
    lost = dict.fromkeys(("objects", "emptied", "under_half", "half_or_more"), 0)
    with open_stage(walk_path) as walks:
        for image_id in Progress(ids, walk_path.parents[1].name):
            gt_masks, gt_classes, _ = data.instance_gt(image_id)
            _, _, ins_walk, map_classes, size = read_walk(walks[image_id])
            masks, cls, scores = (
                t.numpy()
                for t in instances_from_walk(ins_walk, map_classes, size, lab["ins_bg_threshold"], lab["min_fraction"])
            )
            masks = masks.astype(bool)
            evals["before"].add(masks, cls, scores, gt_masks, gt_classes)
            if not len(masks):
                for v in values:
                    evals[v].add(masks, cls, scores, gt_masks, gt_classes)
                continue
            # the CRF once; each value keeps from the walk what it takes most of, as crf_instances does
            refined = crf_outlines(data.load_image(image_id), masks)
            for v in values:
                out = keep_taken(masks, refined, v)
                keep = out.any((1, 2))
                evals[v].add(out[keep], cls[keep], scores[keep], gt_masks, gt_classes)
            kept = refined.sum((1, 2)) / masks.sum((1, 2))
            counts["instances"] += len(masks)
            counts["emptied"] += int((kept == 0).sum())
            counts["under_quarter"] += int((kept < 0.25).sum())
            counts["under_half"] += int((kept < 0.5).sum())
            for i in lost_objects(masks, cls, refined, gt_masks, gt_classes):
                lost["objects"] += 1
                lost["emptied" if kept[i] == 0 else "under_half" if kept[i] < 0.5 else "half_or_more"] += 1
    maps = {
        ("before" if k == "before" else f"min_kept_{k:g}"): {
            f"map{round(t * 100):02d}": round(float(m), 4) for t, m in ev.summary().items()
        }
        for k, ev in evals.items()
    }
    return {
        "images": len(ids),
        "ins_bg_threshold": lab["ins_bg_threshold"],
        **maps,
        "crf_at_0": counts,
        "lost_at_0": lost,
    }


def main() -> None:
    ap = runs_parser(__doc__, "run folders with their walk (results/<run_name>)")
    ap.add_argument("--min-kept", type=float, nargs="+", default=[0.0, 0.25, 0.5])
    ap.add_argument("--set", nargs="*", default=[], help="section.key=value changes (YAML values)")
    args = ap.parse_args()
    runs = list(map(Path, args.runs))
    distinct_names(runs)
    for run in runs:
        if not (run / "labels/walk.h5").is_file():
            sys.exit(f"{run}: no walk ({run / 'labels/walk.h5'})")
    record: dict = {"min_kept": args.min_kept, "changes": args.set, "runs": {}}
    for run in runs:
        row = judge_run(run_settings(run, args.set), run / "labels/walk.h5", args.min_kept)
        record["runs"][run.name] = row
        c, lost = row["crf_at_0"], row["lost_at_0"]
        print(
            f"{run.name}: before the CRF map25/50/75 "
            + " / ".join(f"{row['before'][k]:.4f}" for k in ("map25", "map50", "map75"))
            + "".join(
                f"; min_kept {v:g}: "
                + " / ".join(f"{row[f'min_kept_{v:g}'][k]:.4f}" for k in ("map25", "map50", "map75"))
                for v in args.min_kept
            )
            + f"; at 0 the CRF empties {c['emptied']} of {c['instances']} instances, leaves {c['under_half']}"
            f" under half; objects lost at IoU {LOST_IOU}: {lost['objects']} (emptied {lost['emptied']}, under half"
            f" {lost['under_half']}, half or more {lost['half_or_more']})",
            flush=True,
        )
    rows = list(record["runs"].values())
    record["spread"] = {
        key: {m: spread_of([r[key][m] for r in rows]) for m in rows[0][key]}
        for key in ("before", *(f"min_kept_{v:g}" for v in args.min_kept))
    }
    for key, table in record["spread"].items():
        print(
            key,
            "  ".join(
                f"{m} {s['mean']:.4f} ({s['min']:.4f} - {s['max']:.4f}, {s['range']:.4f})" for m, s in table.items()
            ),
        )
    if args.note:
        record["note"] = args.note
    update_entry("crf_kept", args.name, record)


if __name__ == "__main__":
    main()
