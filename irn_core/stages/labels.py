"""Stages of METHOD.md 5: the random walk of every image (its CAMs propagated on IRNet's boundary
map, instance by instance), the semantic and instance pseudo labels thresholded from it, the
instance labels as COCO JSON (Mask R-CNN's training set), and the no-IRNet baselines.

The walk is the expensive step and depends on no background threshold: a new threshold relabels
from the walk file and never walks again."""

from __future__ import annotations

import time

import numpy as np
import torch

from ..cam import cam_to_label, stage_cams
from ..coco import instances_json
from ..datasets import stage_ids, union_ids
from ..device import resolve_device
from ..instances import detect_instances, instance_map
from ..io import open_stage, read_instances, write_instances, write_json
from ..progress import Progress, log
from ..propagate import upsample_normalise
from ..synthesis import crf_labels, instances_from_walk, semantic_from_walk, semantic_score, walk_instances
from . import PerImage, coco_image_numbers

# what each runner reads (irn_core.config.rule_settings)
SETTINGS = {
    "random_walk": [
        "split:train",
        "split:eval",
        "propagate",
        "labels.centroid_iterations",
        "labels.centroid_threshold",
    ],
    "make_labels": [
        "split:train",
        "split:eval",
        "labels.sem_bg_threshold",
        "labels.ins_bg_threshold",
        "labels.min_fraction",
        "labels.crf",
        "labels.crf_min_kept",
    ],
    "pseudo_coco": ["split:train", "split:eval", "labels.min_score"],
    "baselines": ["split:eval", "cam.eval_threshold", "labels.sem_bg_threshold", "labels.min_fraction"],
}


def _write_instances(f, image_id: str, masks, classes, scores) -> None:
    write_instances(f, image_id, masks.cpu().numpy(), classes.cpu().numpy(), scores.cpu().numpy())


@torch.no_grad()
def random_walk(cfg: dict, cams_path: str, irn_path: str, out_path: str, shard: tuple[int, int] = (0, 1)) -> dict:
    """The random walk of every train/eval image (of one shard), before any background threshold
    (METHOD.md 5a-5b): its class-agnostic instance map from the displacement field, and the walk of
    each class's CAM inside each instance region, at stride 4 (:func:`irn_core.synthesis.walk_instances`).
    Float32, the precision the labels read, so labels made from the file equal those made at once."""
    device = resolve_device(cfg["device"])
    lab = cfg["labels"]
    seconds, n_maps = [], 0
    with (
        open_stage(cams_path) as cams,
        open_stage(irn_path) as irn,
        PerImage(
            "random_walk",
            cfg,
            ("train", "eval"),
            {"walk": out_path},
            {"cams": cams_path, "irn": irn_path},
            shard,
            # the settings IRNet's maps were made with: that file is temporary (irn show remakes them)
            extra={"irn_config_json": irn.attrs.get("config_json", "{}")},
        ) as stage,
    ):
        for image_id in stage.progress():
            r = irn[image_id]
            keys, cam_s4 = stage_cams(cams[image_id], 4)
            t = time.perf_counter()
            inst = instance_map(
                torch.from_numpy(r["disp"][()]).to(device), lab["centroid_iterations"], lab["centroid_threshold"]
            )
            ins_walk, sem_walk = walk_instances(
                torch.from_numpy(cam_s4).to(device),
                keys,
                torch.from_numpy(r["boundary"][()]).to(device),
                inst,
                cfg["propagate"],
            )
            seconds.append(time.perf_counter() - t)
            stage.write(
                "walk",
                image_id,
                {
                    "keys": keys,
                    "sem_walk": sem_walk.cpu().numpy(),
                    "ins_walk": ins_walk.cpu().numpy(),
                    "map_classes": np.repeat(keys, inst.shape[0]).astype(np.int64),
                    "image_size": r["image_size"][()],
                },
                compression="gzip",
                shuffle=True,
            )
            n_maps += len(ins_walk)
    log(
        f"random_walk: {np.mean(seconds) if seconds else 0:.3f} s per image (instance map and walk), "
        f"{n_maps} instance maps in {len(stage.ids)} images"
    )
    return {"seconds_per_image": float(np.mean(seconds)) if seconds else 0.0}


def read_walk(group, device=None) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, np.ndarray, tuple[int, int]]:
    """(keys, class walks, instance walks, their classes, image size) of one image of a walk file."""
    return (
        group["keys"][()],
        torch.from_numpy(group["sem_walk"][()]).to(device),
        torch.from_numpy(group["ins_walk"][()]).to(device),
        group["map_classes"][()],
        tuple(int(v) for v in group["image_size"][()]),
    )


@torch.no_grad()
def make_labels(cfg: dict, walk_path: str, sem_out: str, ins_out: str, shard: tuple[int, int] = (0, 1)) -> dict:
    """Semantic and instance pseudo labels (METHOD.md 5c-5d) of every train/eval image (of one
    shard), thresholded from its walk at ``labels.sem_bg_threshold`` / ``ins_bg_threshold``; with
    ``labels.crf`` both then refined on the image by the dense CRF (:func:`crf_labels`)."""
    device = resolve_device(cfg["device"])
    lab = cfg["labels"]
    n_inst = 0
    with (
        open_stage(walk_path) as walks,
        PerImage(
            "make_labels", cfg, ("train", "eval"), {"sem": sem_out, "ins": ins_out}, {"walk": walk_path}, shard
        ) as stage,
    ):
        for image_id in stage.progress():
            keys, sem_walk, ins_walk, map_classes, size = read_walk(walks[image_id], device)
            label, _ = semantic_from_walk(sem_walk, keys, size, lab["sem_bg_threshold"])
            masks, cls, scores = instances_from_walk(
                ins_walk, map_classes, size, lab["ins_bg_threshold"], lab["min_fraction"]
            )
            label, masks, cls, scores = (t.cpu().numpy() for t in (label, masks, cls, scores))
            if lab["crf"]:
                label, masks, cls, scores = crf_labels(
                    stage.data.load_image(image_id), label, masks, cls, scores, lab["crf_min_kept"]
                )
            stage.write("sem", image_id, {"label": label}, compression="gzip")
            write_instances(stage.files["ins"], image_id, masks, cls, scores)
            n_inst += len(scores)
    log(
        f"make_labels: {n_inst} instances in {len(stage.ids)} images (background thresholds: semantic "
        f"{lab['sem_bg_threshold']}, instances {lab['ins_bg_threshold']}; dense CRF {'on' if lab['crf'] else 'off'})"
    )
    return {"instances": n_inst}


def pseudo_coco(cfg: dict, ins_path: str, coco_path: str) -> dict:
    """The instance pseudo labels scoring above ``labels.min_score`` as a COCO JSON (Mask R-CNN's
    training set). Images are numbered as :func:`coco_image_numbers` does for the train/eval ids."""
    ids = union_ids(stage_ids(cfg, "train_list"), stage_ids(cfg, "eval_list"))
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
    cfg: dict,
    cams_path: str,
    walk_path: str,
    sem_path: str,
    out_cc: str,
    out_sem_cc: str,
    shard: tuple[int, int] = (0, 1),
) -> None:
    """(a) CAM + background threshold + connected components; (b) semantic propagation + connected
    components: the semantic pseudo labels make_labels wrote (``sem_path``, refined by the dense CRF
    where ``labels.crf`` is on) cut into components, each scored by the class walks' peak in it.
    Same instance format as the pseudo labels."""
    thr = cfg["cam"]["eval_threshold"]
    frac = cfg["labels"]["min_fraction"]
    n_maps = max(len(cfg["dataset"]["classes"]), 1)
    with (
        open_stage(cams_path) as cams,
        open_stage(walk_path) as walks,
        open_stage(sem_path) as sem,
        PerImage(
            "baselines",
            cfg,
            ("eval",),
            {"cc": out_cc, "sem_cc": out_sem_cc},
            {"cams": cams_path, "walk": walk_path, "sem": sem_path},
            shard,
        ) as stage,
    ):
        for image_id in stage.progress():
            g = cams[image_id]
            keys, cam = stage_cams(g, 1)
            label = cam_to_label(cam, keys, thr)
            # label k+1 selects the score map of class k; maps are indexed by class here
            full = np.zeros((n_maps,) + cam.shape[1:], np.float32)
            full[keys] = cam
            masks, cls, scores = detect_instances(
                torch.from_numpy(full), torch.from_numpy(label.astype(np.int64)), torch.arange(len(full)), frac
            )
            _write_instances(stage.files["cc"], image_id, masks, cls, scores)
            keys, sem_walk, _, _, size = read_walk(walks[image_id])
            sscore = semantic_score(upsample_normalise(sem_walk, size), cfg["labels"]["sem_bg_threshold"])
            slabel = torch.from_numpy(sem[image_id]["label"][()])
            score_maps = sscore[None].expand(len(full), *sscore.shape)
            masks, cls, scores = detect_instances(score_maps, slabel.long(), torch.arange(len(full)), frac)
            _write_instances(stage.files["sem_cc"], image_id, masks, cls, scores)
