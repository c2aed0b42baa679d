"""How far the instance pseudo labels of finished default toy runs reach beyond the objects, and
whether the detector trained on them inherits it: per run, the pixels of the labels' masks (union
per image and class) against the ground-truth masks of the same class, as pixel precision
(label pixels on an object of their class), recall and extent (label pixels / object pixels), with
the instance count, and precision and extent per class; the same for the detector's val
predictions at score >= 0.5 against the val ground truth; and the run's ins_pseudo.map50 and
maskrcnn.map50 beside them. mAP50 forgives a mask that covers its object and as much again around
it; a detector trained on such masks learns to overflow.

Usage: python benchmarks/bench_label_extent.py RUN [RUN ...] --name NAME [--note TEXT]
RUN is a finished run's folder (results/<run_name>), or one run up to the pseudo labels (then
without the detector's columns, and the labels' COCO JSON made from its ins_pseudo.h5 under
/tmp/label_extent/NAME/ when it is older; the ground truth's too when the run has none, e.g. a
bench_irn_seeds variant). Writes entry NAME of section ``label_extent`` of benchmarks/results.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

sys.path.insert(0, str(Path(__file__).parent))
from common import run_settings, runs_parser, update_entry

from irn_core.coco import annotation_mask, load
from irn_core.stages.labels import pseudo_coco
from irn_core.stages.maskrcnn import gt_coco

SCORE = 0.5  # the detector's predictions counted as its masks


def class_unions(anns: list[dict], gt: COCO) -> dict[tuple[int, int], np.ndarray]:
    """(image id, category id) -> the union of that class's masks in that image (sizes from ``gt``)."""
    out: dict[tuple[int, int], np.ndarray] = {}
    for a in anns:
        m = annotation_mask(gt, a)
        key = (a["image_id"], a["category_id"])
        out[key] = out[key] | m if key in out else m
    return out


def extent(pred: list[dict], gt_json: Path) -> dict:
    """Pixel precision, recall and extent of ``pred``'s masks against the COCO ground truth in ``gt_json``."""
    gt = load(gt_json)
    p, g = class_unions(pred, gt), class_unions(gt.dataset["annotations"], gt)

    # per class: label pixels on an object of their class, label pixels, object pixels
    by_cat = {cat: np.zeros(3, np.int64) for cat in gt.cats}
    for key in p.keys() | g.keys():
        m, o = p.get(key), g.get(key)
        both = int((m & o).sum()) if m is not None and o is not None else 0
        by_cat[key[1]] += [both, 0 if m is None else int(m.sum()), 0 if o is None else int(o.sum())]
    both, n_pred, n_gt = (int(v) for v in np.sum(list(by_cat.values()), 0))
    per_class = {
        gt.cats[cat]["name"]: {"precision": round(c[0] / max(c[1], 1), 4), "extent": round(c[1] / max(c[2], 1), 4)}
        for cat, c in sorted(by_cat.items())
    }
    return {
        "precision": round(both / max(n_pred, 1), 4),
        "recall": round(both / max(n_gt, 1), 4),
        "extent": round(n_pred / max(n_gt, 1), 4),
        "instances": len(pred),
        "gt_instances": len(gt.dataset["annotations"]),
        "per_class": per_class,
    }


def main() -> None:
    args = runs_parser(__doc__, "finished default toy runs (results/<run_name>)").parse_args()
    rows = {}
    for run in map(Path, args.runs):
        # a run taken up to the pseudo labels again (--target pseudo_labels) keeps the COCO JSON
        # and the summary of its last full run: newer labels make them stale
        cfg = run_settings(run, [])
        made = (run / "labels/ins_pseudo.h5").stat().st_mtime
        full = (run / "summary.json").is_file() and (run / "summary.json").stat().st_mtime > made
        ins_map50 = json.loads((run / "labels/eval.json").read_text())["ins_pseudo"]["map50"]
        coco = run / "labels/ins_pseudo_coco.json"
        if not coco.is_file() or coco.stat().st_mtime < made:
            coco = Path(f"/tmp/label_extent/{args.name}/{run.name}.json")
            coco.parent.mkdir(parents=True, exist_ok=True)
            pseudo_coco(cfg, str(run / "labels/ins_pseudo.h5"), str(coco))
        labels = json.loads(coco.read_text())["annotations"]
        gt = run / "maskrcnn/gt_train_coco.json"
        if not gt.is_file():
            gt = Path(f"/tmp/label_extent/{args.name}/{run.name}_gt_train.json")
            gt.parent.mkdir(parents=True, exist_ok=True)
            gt_coco(cfg, "train_list", str(gt))
        r = rows[run.name] = {
            "labels": extent(labels, gt),
            "ins_pseudo.map50": round(ins_map50, 4),
        }
        line = f"{run.name}: labels precision {r['labels']['precision']:.3f} extent {r['labels']['extent']:.3f}"
        line += f" (mAP50 {r['ins_pseudo.map50']:.3f}); extent by class "
        line += ", ".join(f"{c} {v['extent']:.2f}" for c, v in r["labels"]["per_class"].items())
        if full:
            preds = json.loads((run / "maskrcnn/pseudo/predictions_val.json").read_text())
            r["detector"] = extent([a for a in preds if a["score"] >= SCORE], run / "maskrcnn/gt_val_coco.json")
            r["maskrcnn.map50"] = round(json.loads((run / "summary.json").read_text())["maskrcnn"]["map50"], 4)
            line += f"; detector precision {r['detector']['precision']:.3f} extent {r['detector']['extent']:.3f}"
            line += f" (mAP50 {r['maskrcnn.map50']:.3f})"
        print(line, flush=True)
    record = {"runs": rows, "detector_score": SCORE, **({"note": args.note} if args.note else {})}
    if len(rows) > 2 and all("detector" in r for r in rows.values()):
        det = [r["maskrcnn.map50"] for r in rows.values()]
        for key in ("precision", "extent"):
            corr = np.corrcoef([r["labels"][key] for r in rows.values()], det)[0, 1]
            record[f"corr_labels_{key}_maskrcnn_map50"] = round(float(corr), 3)
        corr = np.corrcoef([r["ins_pseudo.map50"] for r in rows.values()], det)[0, 1]
        record["corr_ins_pseudo_map50_maskrcnn_map50"] = round(float(corr), 3)
        print({k: v for k, v in record.items() if k.startswith("corr")})
    update_entry("label_extent", args.name, record)


if __name__ == "__main__":
    main()
