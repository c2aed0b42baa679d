"""How much of the detector's width over runs is the held-out val set's sampling? A bootstrap over
the val images of detectors that bench_recipe trained: each detector's mAP50 recomputed from its
saved predictions per image (it must equal its eval.json), then over resamples of the val images
(with replacement, the same resample for every detector) its standard deviation, and per group of
detectors (a recipes entry; its detectors grouped by run, averaged over their seeds) how far each
run's mean moves against the group's mean, and the range of the run means.

Usage: python benchmarks/bench_val_noise.py ENTRY [ENTRY ...] --gt-run RUN --name NAME [--resamples 300]
       ENTRY: a recipes entry whose detectors are still under /tmp/recipes/ENTRY/<run>_s<seed>/
       (bench_recipe's outputs). RUN: a run folder whose val ground truth (maskrcnn/gt_val_coco.json
       and the dataset) the detectors were scored on (every toy run has the same val images).
       About 20 s for 24 detectors of the toy. Writes entry NAME of section ``val_noise``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

sys.path.insert(0, str(Path(__file__).parent))
from common import run_settings, update_entry

RECIPES = Path("/tmp/recipes")


def per_image(predictions: Path, data, images: list[dict], num_classes: int) -> list:
    """Each val image's ground-truth count, scores and matches at IoU 0.5, per class."""
    from irn_core.coco import image_key
    from irn_core.evaluate import InstanceEvaluator

    by_image: dict[int, list] = {}
    for p in json.loads(predictions.read_text()):
        by_image.setdefault(p["image_id"], []).append(p)
    rows = []
    for info in images:
        preds = by_image.get(info["id"], [])
        gt_masks, gt_classes = data.instance_gt(image_key(info["file_name"]))[:2]
        masks = np.array([mask_utils.decode(p["segmentation"]).astype(bool) for p in preds])
        ev = InstanceEvaluator(num_classes, (0.5,))
        ev.add(
            masks.reshape(-1, info["height"], info["width"]),
            np.array([p["category_id"] - 1 for p in preds], int),
            np.array([p["score"] for p in preds]),
            gt_masks,
            gt_classes,
        )
        rows.append((ev.n_pos.copy(), ev.scores, [m[0] for m in ev.matches]))
    return rows


def map50(rows: list, idx, num_classes: int) -> float:
    """mAP50 of the images ``idx`` (with repeats) of ``rows``."""
    from irn_core.evaluate import InstanceEvaluator

    ev = InstanceEvaluator(num_classes, (0.5,))
    for i in idx:
        n_pos, scores, matches = rows[i]
        ev.n_pos += n_pos
        for c in range(num_classes):
            ev.scores[c].extend(scores[c])
            ev.matches[c][0].extend(matches[c])
    return ev.summary()[0.5]


def main() -> None:
    from irn_core.datasets import stage_dataset

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("entries", nargs="+")
    ap.add_argument("--gt-run", type=Path, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--resamples", type=int, default=300)
    args = ap.parse_args()
    cfg = run_settings(args.gt_run, [])
    k = len(cfg["dataset"]["classes"])
    data = stage_dataset(cfg)
    images = json.loads((args.gt_run / "maskrcnn/gt_val_coco.json").read_text())["images"]
    dets = {}
    for entry in args.entries:
        folders = sorted(p for p in (RECIPES / entry).glob("*_s*") if (p / "predictions.json").is_file())
        if not folders:
            sys.exit(f"{RECIPES / entry}: no detectors with predictions.json (rerun bench_recipe --name {entry})")
        for d in folders:
            run, seed = d.name.rsplit("_s", 1)  # bench_recipe's <run_name>_s<seed>
            dets[(entry, run, seed)] = d
    rows = {key: per_image(d / "predictions.json", data, images, k) for key, d in dets.items()}
    full = {key: map50(r, range(len(images)), k) for key, r in rows.items()}
    for key, d in dets.items():
        stored = json.loads((d / "eval.json").read_text())["map50"]
        if abs(full[key] - stored) > 1e-9:
            sys.exit(f"{d}: mAP50 recomputed {full[key]:.4f} against its eval.json {stored:.4f} (other val images?)")
    rng = np.random.default_rng(0)
    resamples = [rng.integers(0, len(images), len(images)) for _ in range(args.resamples)]
    boot = {key: np.array([map50(r, idx, k) for idx in resamples]) for key, r in rows.items()}
    out = {"val_images": len(images), "resamples": args.resamples, "entries": {}}
    for entry in args.entries:
        keys = [key for key in boot if key[0] == entry]
        runs = sorted({key[1] for key in keys})
        of = {run: [key for key in keys if key[1] == run] for run in runs}
        means = np.array([np.mean([boot[key] for key in of[run]], axis=0) for run in runs])  # (runs, resamples)
        full_means = np.array([np.mean([full[key] for key in of[run]]) for run in runs])
        ranges = means.max(0) - means.min(0)
        deviation_sd = (means - means.mean(0)).std(1)
        out["entries"][entry] = {
            "detector_sd": {f"{run}_s{seed}": round(float(boot[(e, run, seed)].std()), 4) for e, run, seed in keys},
            "run_mean_deviation_sd": {run: round(float(s), 4) for run, s in zip(runs, deviation_sd)},
            "range_of_run_means": round(float(full_means.max() - full_means.min()), 4),
            "range_of_run_means_resampled_p5_p50_p95": [round(float(v), 4) for v in np.percentile(ranges, [5, 50, 95])],
        }
        e = out["entries"][entry]
        print(
            f"{entry}: one detector's sd {min(e['detector_sd'].values()):.4f} - {max(e['detector_sd'].values()):.4f}; "
            f"a run mean's deviation from the group's, sd {deviation_sd.min():.4f} - {deviation_sd.max():.4f}; "
            f"range of run means {e['range_of_run_means']:.4f} (resampled p5/p50/p95 "
            f"{e['range_of_run_means_resampled_p5_p50_p95']})"
        )
    update_entry("val_noise", args.name, out)


if __name__ == "__main__":
    main()
