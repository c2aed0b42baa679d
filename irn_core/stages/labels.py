"""Stages of METHOD.md 5: the semantic and instance pseudo labels of every image, from its CAMs and
IRNet's outputs; the instance labels as COCO JSON (Mask R-CNN's training set); and the no-IRNet
baselines."""

from __future__ import annotations

import time

import numpy as np
import torch

from ..cam import cam_to_label
from ..coco import instances_json
from ..datasets import split_ids, union_ids
from ..device import resolve_device
from ..instances import detect_instances, instance_map
from ..io import open_stage, read_instances, write_instances, write_json
from ..progress import Progress, log
from ..synthesis import labels_one_walk
from . import PerImage, coco_image_numbers

# what each runner reads (irn_core.config.rule_settings)
SETTINGS = {
    "make_labels": [
        "split:train",
        "split:eval",
        "propagate",
        "labels.sem_bg_threshold",
        "labels.ins_bg_threshold",
        "labels.centroid_iterations",
        "labels.centroid_threshold",
        "labels.min_fraction",
    ],
    "pseudo_coco": ["split:train", "split:eval", "labels.min_score"],
    "baselines": ["split:eval", "cam.eval_threshold", "labels.min_fraction"],
}


def _write_instances(f, image_id: str, masks, classes, scores) -> None:
    write_instances(f, image_id, masks.cpu().numpy(), classes.cpu().numpy(), scores.cpu().numpy())


@torch.no_grad()
def make_labels(
    cfg: dict, cams_path: str, irn_path: str, sem_out: str, ins_out: str, shard: tuple[int, int] = (0, 1)
) -> dict:
    """Semantic and instance pseudo labels (METHOD.md 5a-5d) of every train/eval image (of one
    shard), from one random walk per image: the walk of the instance maps, summed per class, is
    the semantic walk (:func:`irn_core.synthesis.labels_one_walk`)."""
    device = resolve_device(cfg["device"])
    lab = cfg["labels"]
    seconds, n_inst = [], 0
    with (
        open_stage(cams_path) as cams,
        open_stage(irn_path) as irn,
        PerImage(
            "make_labels",
            cfg,
            ("train", "eval"),
            {"sem": sem_out, "ins": ins_out},
            {"cams": cams_path, "irn": irn_path},
            shard,
        ) as stage,
    ):
        for image_id in stage.progress():
            c, r = cams[image_id], irn[image_id]
            size = tuple(int(v) for v in r["image_size"][()])
            t = time.perf_counter()
            inst = instance_map(
                torch.from_numpy(r["disp"][()]).to(device), lab["centroid_iterations"], lab["centroid_threshold"]
            )
            (label, score), (masks, cls, scores) = labels_one_walk(
                torch.from_numpy(c["cam_s4"][()]).to(device),
                c["keys"][()],
                torch.from_numpy(r["boundary"][()]).to(device),
                inst,
                size,
                cfg["propagate"],
                lab["sem_bg_threshold"],
                lab["ins_bg_threshold"],
                lab["min_fraction"],
            )
            seconds.append(time.perf_counter() - t)
            stage.write(
                "sem", image_id, {"label": label.cpu().numpy(), "score": score.cpu().numpy()}, compression="gzip"
            )
            _write_instances(stage.files["ins"], image_id, masks, cls, scores)
            n_inst += len(scores)
    log(
        f"make_labels: {np.mean(seconds) if seconds else 0:.3f} s per image (instance map, walk, labels), "
        f"{n_inst} instances in {len(stage.ids)} images"
    )
    return {"seconds_per_image": float(np.mean(seconds)) if seconds else 0.0, "instances": n_inst}


def pseudo_coco(cfg: dict, ins_path: str, coco_path: str) -> dict:
    """The instance pseudo labels scoring above ``labels.min_score`` as a COCO JSON (Mask R-CNN's
    training set). Images are numbered as :func:`coco_image_numbers` does for the train/eval ids."""
    ids = union_ids(split_ids(cfg["dataset"], "train_list"), split_ids(cfg["dataset"], "eval_list"))
    numbers = coco_image_numbers(ids)
    min_score = cfg["labels"]["min_score"]
    images, kept = [], []
    with open_stage(ins_path) as ins:
        for image_id in Progress(ids, "pseudo_coco"):
            masks, cls, scores = read_instances(ins, image_id)
            h, w = ins[image_id]["instances"].shape
            images.append({"id": numbers[image_id], "file_name": f"{image_id}.jpg", "height": int(h), "width": int(w)})
            for k in np.nonzero(scores > min_score)[0]:
                kept.append(
                    {"image_id": numbers[image_id], "mask": masks[k], "class": int(cls[k]), "score": float(scores[k])}
                )
    write_json(coco_path, instances_json(images, kept, list(cfg["dataset"]["classes"])))
    log(f"pseudo_coco: {len(kept)} instances with score > {min_score} in {len(ids)} images, to {coco_path}")
    return {"coco_instances": len(kept)}


def baselines(
    cfg: dict, cams_path: str, sem_path: str, out_cc: str, out_sem_cc: str, shard: tuple[int, int] = (0, 1)
) -> None:
    """(a) CAM + background threshold + connected components; (b) semantic propagation +
    connected components. Same instance format as the pseudo labels."""
    thr = cfg["cam"]["eval_threshold"]
    frac = cfg["labels"]["min_fraction"]
    n_maps = max(len(cfg["dataset"]["classes"]), 1)
    with (
        open_stage(cams_path) as cams,
        open_stage(sem_path) as sem,
        PerImage(
            "baselines",
            cfg,
            ("eval",),
            {"cc": out_cc, "sem_cc": out_sem_cc},
            {"cams": cams_path, "sem": sem_path},
            shard,
        ) as stage,
    ):
        for image_id in stage.progress():
            g = cams[image_id]
            cam, keys = g["cam_full"][()], g["keys"][()]
            label = cam_to_label(cam, keys, thr)
            # label k+1 selects the score map of class k; maps are indexed by class here
            full = np.zeros((n_maps,) + cam.shape[1:], np.float32)
            full[keys] = cam
            masks, cls, scores = detect_instances(
                torch.from_numpy(full), torch.from_numpy(label.astype(np.int64)), torch.arange(len(full)), frac
            )
            _write_instances(stage.files["cc"], image_id, masks, cls, scores)
            s = sem[image_id]
            slabel, sscore = s["label"][()].astype(np.int64), s["score"][()]
            score_maps = torch.from_numpy(np.repeat(sscore[None], len(full), 0))
            masks, cls, scores = detect_instances(score_maps, torch.from_numpy(slabel), torch.arange(len(full)), frac)
            _write_instances(stage.files["sem_cc"], image_id, masks, cls, scores)
