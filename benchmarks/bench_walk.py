"""One walk per image (make_labels) vs the two walks it replaces (semantic propagation, then the
instance labels): seconds per image and whether the labels are equal.

Reads the CAMs and IRNet outputs of a finished run (default: the toy run, results/toy_default)
and synthesises both label kinds for its first images both ways, in this process (2 threads).
Usage: python benchmarks/bench_walk.py [--run results/toy_default] [--images 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import h5py
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import load_config, update_results

from irn_core.cam import stage_cams
from irn_core.instances import instance_map
from irn_core.synthesis import instance_labels, labels_one_walk, semantic_labels


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default="results/toy_default")
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--config", default="config/config.yaml")
    args = ap.parse_args()
    torch.set_num_threads(2)
    cfg = load_config(args.config)
    p, lab = cfg["propagate"], cfg["labels"]
    run = Path(args.run)
    two = one = 0.0
    equal, differing, max_score_diff, n_inst = 0, [], 0.0, 0
    if not (run / "irn/irn_out.h5").exists():
        raise SystemExit(f"{run}/irn/irn_out.h5: IRNet's maps are a temporary file; keep them with snakemake --notemp")
    with h5py.File(run / "cam/cams.h5") as cams, h5py.File(run / "irn/irn_out.h5") as irn:
        ids = sorted(cams)[: args.images]
        for image_id in ids:
            c, r = cams[image_id], irn[image_id]
            keys, cm = stage_cams(c, 4)
            size = tuple(int(v) for v in r["image_size"][()])
            cm, bd = torch.from_numpy(cm), torch.from_numpy(r["boundary"][()])
            disp = torch.from_numpy(r["disp"][()])
            t = time.perf_counter()  # before: propagate, then make_instances (instance map + walk)
            sem = semantic_labels(cm, keys, bd, size, p, lab["sem_bg_threshold"])
            inst = instance_map(disp, lab["centroid_iterations"], lab["centroid_threshold"])
            ins = instance_labels(cm, keys, bd, inst, size, p, lab["ins_bg_threshold"], lab["min_fraction"])
            two += time.perf_counter() - t
            t = time.perf_counter()  # after: make_labels
            inst = instance_map(disp, lab["centroid_iterations"], lab["centroid_threshold"])
            (label, score), (masks, classes, scores) = labels_one_walk(
                cm, keys, bd, inst, size, p, lab["sem_bg_threshold"], lab["ins_bg_threshold"], lab["min_fraction"]
            )
            one += time.perf_counter() - t
            same = (
                torch.equal(label, sem[0])
                and masks.shape == ins[0].shape
                and torch.equal(masks, ins[0])
                and torch.equal(classes, ins[1])
            )
            equal += same
            if not same:
                differing.append(image_id)
            if same:
                max_score_diff = max(
                    max_score_diff,
                    float((score - sem[1]).abs().max()),
                    float((scores - ins[2]).abs().max()) if len(scores) else 0.0,
                )
            n_inst += len(classes)
    row = {
        "run": str(run),
        "images": len(ids),
        "instances": n_inst,
        "two_walks_s_per_image": round(two / len(ids), 4),
        "one_walk_s_per_image": round(one / len(ids), 4),
        "ratio": round(one / two, 3),
        "images_with_equal_labels": equal,
        "differing": differing,
        "max_score_diff": max_score_diff,
    }
    update_results("walk", row)
    print(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
