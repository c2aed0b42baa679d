"""Where the strict overlaps' width over runs comes from: finished runs' instance pseudo labels (on
the eval images) and their detector's predictions (on held-out val) scored as ``eval_pseudo`` and
``eval_maskrcnn`` score them, mAP^r at every IoU level, over all ground-truth objects and over the
objects below and above an area (default 32 x 32 = 1024 pixels, COCO's "small"), COCO-style: an
object outside the range is ignored, and so is a prediction that matches it or that matches
nothing and lies outside the range itself. The all-objects figures must equal the run's
``labels/eval.json`` and ``maskrcnn/pseudo/eval.json`` (else it stops).

Why: at IoU 0.7 / 0.75 a mask one stride-4 cell off its outline misses on a small object and not on
a large one, so the small objects could carry the strict overlaps' width over runs. On the default
toy's six runs they do not (benchmarks/SPREAD.md, "Why the strict overlaps vary").

Usage: python benchmarks/bench_object_size.py RUN [RUN ...] --name NAME [--area 1024] [--extent ENTRY]
RUN is a finished run's folder (results/<run_name>, its config results/<run_name>.yaml beside it),
or one made up to the pseudo labels (e.g. a bench_irn_seeds variant; then the labels alone).
About 10 s per run. Writes entry NAME of section ``object_size`` of benchmarks/results.json: per
run the object counts and the mAP^r per range, and over the runs mean, range and width. With
``--extent ENTRY`` (an entry of section ``label_extent`` made by bench_label_extent.py on the same
runs) also each figure's correlation over the runs with how far the labels overflow their objects
(the labels' ``extent``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, machine, run_settings, update_entry

from irn_core.evaluate import InstanceEvaluator, mask_iou

RANGES = ("all", "small", "large")


class SizedEvaluator:
    """mAP^r as :class:`irn_core.evaluate.InstanceEvaluator` computes it (each prediction, in score
    order, takes its best-overlapping object of its class when that one is still free) over the
    objects whose area lies in [lo, hi); the others are ignored as COCOeval ignores out-of-range
    objects. With [0, inf) nothing is ignored and the figures are InstanceEvaluator's."""

    def __init__(self, num_classes: int, thresholds, lo: float = 0.0, hi: float = np.inf):
        self.k, self.thresholds, self.lo, self.hi = num_classes, tuple(thresholds), lo, hi
        self.n_pos = np.zeros(num_classes, np.int64)
        self.kept = [[[] for _ in self.thresholds] for _ in range(num_classes)]  # (score, tp) per level

    def add(self, masks, classes, scores, gt_masks, gt_classes) -> None:
        masks, gt_masks = np.asarray(masks, bool), np.asarray(gt_masks, bool)
        scores = np.asarray(scores, np.float64)
        p_in = self.inside(masks)
        g_in = self.inside(gt_masks)
        for c in np.union1d(np.unique(classes), np.unique(gt_classes)).astype(int):
            p = np.nonzero(classes == c)[0]
            g = np.nonzero(gt_classes == c)[0]
            self.n_pos[c] += int(g_in[g].sum())
            if len(p) == 0:
                continue
            p = p[scores[p].argsort()[::-1]]
            iou = mask_iou(masks[p], gt_masks[g])
            for t, thr in enumerate(self.thresholds):
                taken = np.zeros(len(g), bool)
                for row, i in zip(iou, p):
                    j = int(row.argmax()) if row.size else -1
                    hit = j >= 0 and row[j] >= thr and not taken[j]
                    if hit:
                        taken[j] = True
                        if not g_in[g[j]]:
                            continue  # matches an ignored object
                    elif not p_in[i]:
                        continue  # matches nothing and lies outside the range
                    self.kept[c][t].append((scores[i], int(hit)))

    def inside(self, masks: np.ndarray) -> np.ndarray:
        area = masks.reshape(len(masks), -1).sum(1) if len(masks) else np.zeros(0)
        return (area >= self.lo) & (area < self.hi)

    def summary(self) -> dict[float, float]:
        """{threshold: mAP^r}, by InstanceEvaluator's AP over what each level kept."""
        out = {}
        for t, thr in enumerate(self.thresholds):
            ev = InstanceEvaluator(self.k, (thr,))
            ev.n_pos = self.n_pos.copy()
            for c in range(self.k):
                ev.scores[c] = [score for score, _ in self.kept[c][t]]
                ev.matches[c][0] = [hit for _, hit in self.kept[c][t]]
            out[thr] = ev.summary()[thr]
        return out


def score_run(run: Path, area: float) -> dict:
    from pycocotools import mask as mask_utils

    from irn_core.coco import image_key
    from irn_core.datasets import stage_dataset, stage_ids
    from irn_core.io import open_stage, read_instances

    cfg = run_settings(run, [])
    k, thresholds = len(cfg["dataset"]["classes"]), cfg["evaluate"]["iou_thresholds"]
    data = stage_dataset(cfg)
    bounds = {"all": (0.0, np.inf), "small": (0.0, area), "large": (area, np.inf)}

    def evaluate(items) -> dict:
        evs = {r: SizedEvaluator(k, thresholds, *bounds[r]) for r in RANGES}
        counts = dict.fromkeys(RANGES, 0)
        for masks, classes, scores, gt_masks, gt_classes in items:
            for r, ev in evs.items():
                ev.add(masks, classes, scores, gt_masks, gt_classes)
                counts[r] += int(ev.inside(np.asarray(gt_masks, bool)).sum())
        return {
            r: {"objects": counts[r], **{f"map{round(t * 100):02d}": v for t, v in ev.summary().items()}}
            for r, ev in evs.items()
        }

    def labels():
        with open_stage(run / "labels/ins_pseudo.h5") as f:
            for image_id in stage_ids(cfg, "eval_list"):
                yield (*read_instances(f, image_id), *data.instance_gt(image_id)[:2])

    def detections():
        by_image: dict[int, list] = {}
        for p in json.loads((run / "maskrcnn/pseudo/predictions_val.json").read_text()):
            by_image.setdefault(p["image_id"], []).append(p)
        for info in json.loads((run / "maskrcnn/gt_val_coco.json").read_text())["images"]:
            preds = by_image.get(info["id"], [])
            masks = np.array([mask_utils.decode(p["segmentation"]).astype(bool) for p in preds])
            yield (
                masks.reshape(-1, info["height"], info["width"]),
                np.array([p["category_id"] - 1 for p in preds], int),
                np.array([p["score"] for p in preds]),
                *data.instance_gt(image_key(info["file_name"]))[:2],
            )

    out = {}
    parts = [("ins_pseudo", labels, run / "labels/eval.json")]
    if (run / "maskrcnn/pseudo/predictions_val.json").is_file():  # else a run up to the labels
        parts.append(("maskrcnn", detections, run / "maskrcnn/pseudo/eval.json"))
    for key, items, eval_json in parts:
        stored = json.loads(eval_json.read_text())
        stored = stored.get(key, stored)  # labels/eval.json has a section per kind of labels
        out[key] = evaluate(items())
        for level, value in out[key]["all"].items():
            if level.startswith("map") and abs(value - stored[level]) > 1e-9:
                sys.exit(f"{run}: {key}.{level} recomputed {value:.6f} against its eval.json {stored[level]:.6f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--area", type=float, default=1024.0, help="the area (pixels) between small and large")
    ap.add_argument("--extent", help="an entry of section label_extent on the same runs")
    args = ap.parse_args()
    per_run = {}
    for run in args.runs:
        per_run[run.name] = score_run(run, args.area)
        print(run.name, json.dumps(per_run[run.name]), flush=True)
    table = {}
    shared = set.intersection(*(set(r) for r in per_run.values()))
    for key, ranges in next(iter(per_run.values())).items():
        if key not in shared:
            continue
        for r, figures in ranges.items():
            for level in (m for m in figures if m.startswith("map")):
                v = np.array([per_run[name][key][r][level] for name in per_run])
                table[f"{key}.{level}.{r}"] = {
                    "mean": round(float(v.mean()), 4),
                    "min": round(float(v.min()), 4),
                    "max": round(float(v.max()), 4),
                    "width": round(float(np.ptp(v)), 4),
                }
    if args.extent:
        entry = json.loads(RESULTS.read_text())["label_extent"][args.extent]["runs"]
        missing = [name for name in per_run if name not in entry]
        if missing:
            sys.exit(f"label_extent entry {args.extent} has no run {', '.join(missing)}")
        extent = np.array([entry[name]["labels"]["extent"] for name in per_run])
        for key, row in table.items():
            section, level, r = key.split(".")
            v = np.array([per_run[name][section][r][level] for name in per_run])
            row["corr_extent"] = round(float(np.corrcoef(extent, v)[0, 1]), 3)
    for name, row in table.items():
        corr = f"  corr. with the labels' extent {row['corr_extent']:+.2f}" if "corr_extent" in row else ""
        print(f"{name:28s} {row['mean']:.3f}  {row['min']:.3f} - {row['max']:.3f}  width {row['width']:.3f}{corr}")
    update_entry(
        "object_size",
        args.name,
        {
            "machine": machine(),
            "area": args.area,
            "extent_entry": args.extent,
            "command": " ".join(["python", *sys.argv]),
            "table": table,
            "runs": per_run,
        },
    )


if __name__ == "__main__":
    main()
