"""How well a trained IRNet closes the objects' outlines: its boundary map (as ``infer_irn`` makes
it) on the first eval images, read at the stride-4 cells of the ground-truth instance outlines.
A gap is an outline cell whose 3 x 3 neighbourhood has no boundary value of at least 0.5: the walk
leaks through it, and the labels overflow the object. Also the mean boundary away from outlines,
on the background and inside objects (false boundaries that stop the walk short), and the share of
object cells away from outlines at the threshold or above (``inside_strong``: false boundaries a
walk cannot cross).

Two figures need no ground truth, only the run's mined relations (``relations/relations.h5``, at
stride 4 as IRNet trains on them), so the pipeline could read them on itself: ``pair_leak``, the
share of mined negative pairs (confident ends of different labels within ``irn.radius``) with no
boundary value of 0.5 on the line between them, and ``pair_cut_fg``, the share of mined same-class
foreground pairs with one (what IRNet's boundary loss asks of it, on whole images).
``--own-quantile Q`` also reads the gaps and the strong boundaries at each IRNet's own Q-quantile
of its boundary values over these images (``own_threshold``, ``own_gap_fraction``,
``own_inside_strong``): as if each IRNet's boundary strength were calibrated by its own map alone.

Usage: python benchmarks/bench_boundary_gaps.py RUN [RUN ...] --name NAME [--images 100] [--own-quantile Q]
RUN is a run folder with an IRNet (results/<run_name>, or a bench_irn_seeds variant's folder);
its config is results/<run_name>.yaml beside it. Writes entry NAME of section ``boundary_gaps`` of
benchmarks/results.json (per run: the numbers, and its labels' ins_pseudo.map50 and sem_pseudo.miou
when evaluated; over three or more evaluated runs, the correlations of the false boundaries inside
objects with the semantic labels, of the gaps with the instance labels and of the two with each
other, and of the mined-pair figures with the labels and the gaps).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
from common import distinct_names, own_labels, run_settings, update_entry

from irn_core.data import normalise
from irn_core.datasets import IGNORE, stage_dataset, stage_ids
from irn_core.device import set_threads
from irn_core.io import StageArrays
from irn_core.relations import boundary_affinity, pair_labels
from irn_core.stages.irnet import irn_forward, load_irnet
from irn_core.synthesis import gt_boundary

THRESHOLD = 0.5
STRIDE = 4  # IRNet's maps: image pixels per cell


def outline_cells(objects: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(outline, background, inside) masks of the stride-4 cells of a SegmentationObject map: the
    cells ``gt_boundary`` marks (instance ids, background and void included, that differ from a
    neighbour: the diagnostics' ground-truth boundary, on instances), and the background and object
    cells more than 2 cells away from any of them (whole cells of one id, read at their corner)."""
    outline = gt_boundary(objects).numpy() > 0
    far = ~ndimage.binary_dilation(outline, iterations=2)
    ids = objects[::4, ::4]
    return outline, far & (ids == 0), far & (ids > 0) & (ids != IGNORE)


def mined_pairs(boundary: np.ndarray, relation_label: np.ndarray, radius: int) -> tuple[int, int, int, int]:
    """(leaking negative pairs, negative pairs, cut foreground pairs, foreground pairs) of one image:
    the mined pairs within ``radius`` of the relation label map sampled at the centre of each
    stride-4 cell (as IRNet's training crops are), on the boundary map's cells."""
    label = torch.from_numpy(relation_label[STRIDE // 2 :: STRIDE, STRIDE // 2 :: STRIDE].astype(np.int64))
    h, w = min(label.shape[0], boundary.shape[0]), min(label.shape[1], boundary.shape[1])
    _, fg, neg = pair_labels(label[None, :h, :w], radius)
    connected = boundary_affinity(torch.from_numpy(boundary[None, :h, :w]), radius) > 1 - THRESHOLD
    return int((connected & neg).sum()), int(neg.sum()), int((~connected & fg).sum()), int(fg.sum())


def gaps(run: Path, images: int, own_quantile: float | None = None) -> dict:
    cfg = run_settings(run, [])
    net = load_irnet(cfg, str(run / "irn/model.pt"), torch.device("cpu"))
    data = stage_dataset(cfg)
    relations = StageArrays(run / "relations/relations.h5", "label")
    maps, pairs = [], np.zeros(4, dtype=np.int64)
    for image_id in stage_ids(cfg, "eval_list")[:images]:
        img = torch.from_numpy(normalise(data.load_image(image_id)))
        boundary = irn_forward(net, img, cfg["irn"]["infer_pad_to"], cfg["irn"]["flip_aligned"])[0].numpy()
        maps.append((boundary, *outline_cells(data.object_map(image_id))))
        pairs += mined_pairs(boundary, relations[image_id], cfg["irn"]["radius"])
    edge = np.concatenate([b[o] for b, o, _, _ in maps])
    inside = np.concatenate([b[f] for b, _, _, f in maps])
    nearby = np.concatenate([ndimage.maximum_filter(b, 3)[o] for b, o, _, _ in maps])  # outline cells' 3 x 3 max
    out = {
        "images": images,
        "outline_cells": int(edge.size),
        "gap_fraction": round(float((nearby < THRESHOLD).mean()), 4),
        "outline_mean": round(float(edge.mean()), 4),
        "outline_p25": round(float(np.percentile(edge, 25)), 4),
        "background_mean": round(float(np.concatenate([b[g] for b, _, g, _ in maps]).mean()), 4),
        "inside_mean": round(float(inside.mean()), 4),
        "inside_strong": round(float((inside >= THRESHOLD).mean()), 4),
        "pair_leak": round(int(pairs[0]) / max(int(pairs[1]), 1), 4),
        "pair_cut_fg": round(int(pairs[2]) / max(int(pairs[3]), 1), 4),
    }
    if own_quantile is not None:
        own = float(np.quantile(np.concatenate([b.ravel() for b, _, _, _ in maps]), own_quantile))
        out["own_threshold"] = round(own, 4)
        out["own_gap_fraction"] = round(float((nearby < own).mean()), 4)
        out["own_inside_strong"] = round(float((inside >= own).mean()), 4)
    evaluation = own_labels(run)
    if evaluation:
        out["ins_pseudo.map50"] = round(evaluation["ins_pseudo"]["map50"], 4)
        out["sem_pseudo.miou"] = round(evaluation["sem_pseudo"]["miou"], 4)
    return out


def correlations(rows: dict) -> dict:
    """Pearson correlation over the runs with labels: false boundaries inside objects (their mean,
    and the share of strong ones) against the semantic labels (they stop the walk short), gaps in
    the outlines against the instance labels (the walk leaks through them), and the two against
    each other (an IRNet that draws boundaries strongly closes the outlines and marks the insides
    too)."""
    done = [r for r in rows.values() if "sem_pseudo.miou" in r]
    if len(done) < 3:
        return {}
    pairs = {
        "inside_mean~sem_pseudo.miou": ("inside_mean", "sem_pseudo.miou"),
        "inside_strong~sem_pseudo.miou": ("inside_strong", "sem_pseudo.miou"),
        "gap_fraction~ins_pseudo.map50": ("gap_fraction", "ins_pseudo.map50"),
        "gap_fraction~inside_mean": ("gap_fraction", "inside_mean"),
        "pair_leak~ins_pseudo.map50": ("pair_leak", "ins_pseudo.map50"),
        "pair_leak~gap_fraction": ("pair_leak", "gap_fraction"),
        "pair_cut_fg~gap_fraction": ("pair_cut_fg", "gap_fraction"),
        "pair_cut_fg~inside_strong": ("pair_cut_fg", "inside_strong"),
        "pair_cut_fg~sem_pseudo.miou": ("pair_cut_fg", "sem_pseudo.miou"),
        "own_gap_fraction~ins_pseudo.map50": ("own_gap_fraction", "ins_pseudo.map50"),
        "own_inside_strong~sem_pseudo.miou": ("own_inside_strong", "sem_pseudo.miou"),
    }
    return {
        name: round(float(np.corrcoef([r[a] for r in done], [r[b] for r in done])[0, 1]), 3)
        for name, (a, b) in pairs.items()
        if a in done[0]
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--name", required=True, help="entry of section boundary_gaps")
    ap.add_argument("--images", type=int, default=100, help="the first N eval images")
    ap.add_argument(
        "--own-quantile", type=float, default=None, help="also read at each IRNet's own quantile Q of its map"
    )
    args = ap.parse_args()
    if args.own_quantile is not None and not 0 < args.own_quantile < 1:
        sys.exit(f"--own-quantile {args.own_quantile}: a quantile in (0, 1)")
    distinct_names(args.runs)
    set_threads(1)
    rows = {}
    for run in args.runs:
        if not (run / "irn/model.pt").is_file():
            sys.exit(f"{run}: no irn/model.pt (not a run folder with a trained IRNet)")
        if not (run / "relations/relations.h5").is_file():
            sys.exit(f"{run}: no relations/relations.h5 (the mined relations its IRNet trained on)")
        rows[run.name] = gaps(run, args.images, args.own_quantile)
        print(run.name, json.dumps(rows[run.name]), flush=True)
    corr = correlations(rows)
    entry = {"runs": {str(r): rows[r.name] for r in args.runs}}
    update_entry("boundary_gaps", args.name, {**entry, "correlation": corr} if corr else entry)
    print(
        "| run | gap fraction | outline mean / p25 | background / inside mean | pair leak / cut fg "
        "| ins_pseudo.map50 | sem_pseudo.miou |"
    )
    print("|---|---|---|---|---|---|---|")
    nan = float("nan")
    for name, r in rows.items():
        print(
            f"| {name} | {r['gap_fraction']:.3f} | {r['outline_mean']:.3f} / {r['outline_p25']:.3f} | "
            f"{r['background_mean']:.3f} / {r['inside_mean']:.3f} | {r['pair_leak']:.3f} / {r['pair_cut_fg']:.3f} | "
            f"{r.get('ins_pseudo.map50', nan):.3f} | "
            f"{r.get('sem_pseudo.miou', nan):.3f} |"
        )
    for pair, value in corr.items():
        print(f"correlation {pair}: {value:.3f}")


if __name__ == "__main__":
    main()
