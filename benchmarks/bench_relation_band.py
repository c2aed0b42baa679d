"""What IRNet is taught about the objects' outlines: a finished run's CAMs made into the confident
foreground / background label map as ``mine_relations`` makes it (``relation_labels``, dense CRF
included), at one or more ``relations.bg_threshold`` values, on the first train images, read
against the ground truth. IRNet's relation loss takes pairs of confident pixels only: object pixels
labelled confident background make same-label pairs across an outline (a boundary there is
penalised), in the band of unsure pixels around an object no pair says where the boundary goes,
and background pixels labelled confident foreground make same-label pairs with the object across
its outline (a boundary there is penalised, one further out is taught).

Per threshold: ``object_unsure`` and ``object_as_background`` (shares of the object pixels),
``band_4px`` / ``band_4_12px`` (unsure background pixels within 4 px / 4 to 12 px of an object,
per object pixel), ``unsure_background`` (all unsure background pixels, per object pixel) and
``background_as_object`` (background pixels labelled confident foreground, per object pixel).

Usage: python benchmarks/bench_relation_band.py RUN [RUN ...] --name NAME [--bg 0.05 0.1] [--images 100]
RUN is a run folder with its CAMs (results/<run_name>, its config results/<run_name>.yaml beside
it). About 20 s per threshold for 100 toy images. Writes entry NAME of section ``relation_band``
of benchmarks/results.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, run_settings, update_entry

FIGURES = (
    "object_unsure",
    "object_as_background",
    "band_4px",
    "band_4_12px",
    "unsure_background",
    "background_as_object",
)


def band(run: Path, thresholds: list[float], images: int) -> dict:
    from irn_core.cam import stage_cams
    from irn_core.datasets import IGNORE, stage_dataset, stage_ids
    from irn_core.io import open_stage
    from irn_core.relations import relation_labels

    cfg = run_settings(run, [])
    rel = cfg["relations"]
    data = stage_dataset(cfg)
    sums = {t: np.zeros(len(FIGURES) + 1) for t in thresholds}
    with open_stage(run / "cam/cams.h5") as cams:
        for image_id in stage_ids(cfg, "train_list")[:images]:
            keys, cam = stage_cams(cams[image_id], 1)
            image, semantic = data.load_image(image_id), data.semantic_gt(image_id)
            obj, bg = (semantic > 0) & (semantic != IGNORE), semantic == 0
            away = ndimage.distance_transform_edt(~obj)  # distance to the nearest object pixel
            for t in thresholds:
                label = relation_labels(image, cam, keys, rel["fg_threshold"], t, rel["crf"])
                unsure = label == IGNORE
                sums[t] += [
                    obj.sum(),
                    (unsure & obj).sum(),
                    ((label == 0) & obj).sum(),
                    (unsure & bg & (away <= 4)).sum(),
                    (unsure & bg & (away > 4) & (away <= 12)).sum(),
                    (unsure & bg).sum(),
                    ((label > 0) & ~unsure & bg).sum(),
                ]
    return {f"{t:g}": dict(zip(FIGURES, (round(float(v / s[0]), 4) for v in s[1:]))) for t, s in sums.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--bg", type=float, nargs="+", default=[0.05], help="relations.bg_threshold values")
    ap.add_argument("--images", type=int, default=100)
    args = ap.parse_args()
    out = {}
    for run in args.runs:
        out[run.name] = band(run, args.bg, args.images)
        for t, row in out[run.name].items():
            print(run.name, f"bg_threshold {t}:", ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    update_entry(
        "relation_band",
        args.name,
        {"machine": machine(), "images": args.images, "bg_thresholds": args.bg, "runs": out},
    )


if __name__ == "__main__":
    main()
