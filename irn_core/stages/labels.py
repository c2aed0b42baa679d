"""Pseudo labels from CAMs and IRNet outputs (METHOD.md 5c, 5d), the no-IRNet baselines, and
their evaluation on the images that have ground truth."""

from __future__ import annotations

import time

import numpy as np
import torch

from ..cam import cam_to_label
from ..config import without_execution
from ..digest import input_digest
from ..evaluate import InstanceEvaluator, confusion, semantic_report
from ..instances import detect_instances, instance_map
from ..io import (atomic_h5, coco_instances, open_stage, provenance, read_instances, write_group, write_instances,
                  write_json)
from ..progress import Progress, log
from ..shards import shard_ids
from ..synthesis import (gt_boundary, gt_class_maps, gt_instance_map, instance_labels, labels_one_walk,
                         semantic_labels)
from ..device import resolve_device
from ..datasets import open_dataset, split_ids, union_ids
from . import coco_image_numbers


def _write_instances(f, image_id: str, masks, classes, scores) -> None:
    write_instances(f, image_id, masks.cpu().numpy(), classes.cpu().numpy(), scores.cpu().numpy())


def _ids(cfg) -> list[str]:
    return union_ids(split_ids(cfg["dataset"], "train_list"), split_ids(cfg["dataset"], "eval_list"))


@torch.no_grad()
def make_labels(cfg: dict, cams_path: str, irn_path: str, sem_out: str, ins_out: str,
                shard: tuple[int, int] = (0, 1)) -> dict:
    """Semantic and instance pseudo labels (METHOD.md 5a-5d) of every train/eval image (of one
    shard), from one random walk per image: the walk of the instance maps, summed per class, is
    the semantic walk (:func:`irn_core.synthesis.labels_one_walk`)."""
    device = resolve_device(cfg["device"])
    lab = cfg["labels"]
    ids = shard_ids(_ids(cfg), *shard)
    digests = {"cams_digest": input_digest(cams_path), "irn_digest": input_digest(irn_path)}
    attrs = provenance("make_labels", cfg["run_name"], without_execution(cfg), **digests)
    seconds, n_inst = [], 0
    with open_stage(cams_path) as cams, open_stage(irn_path) as irn, atomic_h5(sem_out, attrs) as sem, \
            atomic_h5(ins_out, attrs) as ins:
        for image_id in Progress(ids, "make_labels"):
            c, r = cams[image_id], irn[image_id]
            size = tuple(int(v) for v in r["image_size"][()])
            t = time.perf_counter()
            inst = instance_map(torch.from_numpy(r["disp"][()]).to(device), lab["centroid_iterations"],
                                lab["centroid_threshold"])
            (label, score), (masks, cls, scores) = labels_one_walk(
                torch.from_numpy(c["cam_s4"][()]).to(device), c["keys"][()],
                torch.from_numpy(r["boundary"][()]).to(device), inst, size, cfg["propagate"],
                lab["sem_bg_threshold"], lab["ins_bg_threshold"], lab["min_fraction"])
            seconds.append(time.perf_counter() - t)
            write_group(sem, image_id, {"label": label.cpu().numpy(), "score": score.cpu().numpy()},
                        compression="gzip")
            _write_instances(ins, image_id, masks, cls, scores)
            n_inst += len(scores)
    log(f"make_labels: {np.mean(seconds) if seconds else 0:.3f} s per image (instance map, walk, labels), "
        f"{n_inst} instances in {len(ids)} images")
    return {"seconds_per_image": float(np.mean(seconds)) if seconds else 0.0, "instances": n_inst}


def pseudo_coco(cfg: dict, ins_path: str, coco_path: str) -> dict:
    """The instance pseudo labels scoring above ``labels.min_score`` as a COCO JSON (Mask R-CNN's
    training set). Images are numbered as :func:`coco_image_numbers` does for the train/eval ids."""
    ids = _ids(cfg)
    numbers = coco_image_numbers(ids)
    min_score = cfg["labels"]["min_score"]
    images, kept = [], []
    with open_stage(ins_path) as ins:
        for image_id in Progress(ids, "pseudo_coco"):
            masks, cls, scores = read_instances(ins, image_id)
            h, w = ins[image_id]["instances"].shape
            images.append({"id": numbers[image_id], "file_name": f"{image_id}.jpg", "height": int(h), "width": int(w)})
            for k in np.nonzero(scores > min_score)[0]:
                kept.append({"image_id": numbers[image_id], "mask": masks[k], "class": int(cls[k]),
                             "score": float(scores[k])})
    write_json(coco_path, coco_instances(images, kept, list(cfg["dataset"]["classes"])))
    log(f"pseudo_coco: {len(kept)} instances with score > {min_score} in {len(ids)} images, to {coco_path}")
    return {"coco_instances": len(kept)}


def make_baselines(cfg: dict, cams_path: str, sem_path: str, out_cc: str, out_sem_cc: str,
                   shard: tuple[int, int] = (0, 1)) -> None:
    """(a) CAM + background threshold + connected components; (b) semantic propagation +
    connected components. Same instance format as the pseudo labels."""
    thr = cfg["cam"]["eval_threshold"]
    frac = cfg["labels"]["min_fraction"]
    ids = shard_ids(split_ids(cfg["dataset"], "eval_list"), *shard)
    attrs = provenance("baselines", cfg["run_name"], without_execution(cfg), cams_digest=input_digest(cams_path),
                       sem_digest=input_digest(sem_path))
    with open_stage(cams_path) as cams, open_stage(sem_path) as sem, \
            atomic_h5(out_cc, attrs) as fa, atomic_h5(out_sem_cc, attrs) as fb:
        for image_id in Progress(ids, "baselines"):
            g = cams[image_id]
            cam, keys = g["cam_full"][()], g["keys"][()]
            label = cam_to_label(cam, keys, thr)
            # label k+1 selects the score map of class k; maps are indexed by class here
            full = np.zeros((max(len(cfg["dataset"]["classes"]), 1),) + cam.shape[1:], np.float32)
            full[keys] = cam
            masks, cls, scores = detect_instances(torch.from_numpy(full), torch.from_numpy(label.astype(np.int64)),
                                                  torch.arange(len(full)), frac)
            _write_instances(fa, image_id, masks, cls, scores)
            s = sem[image_id]
            slabel, sscore = s["label"][()].astype(np.int64), s["score"][()]
            score_maps = torch.from_numpy(np.repeat(sscore[None], len(full), 0))
            masks, cls, scores = detect_instances(score_maps, torch.from_numpy(slabel), torch.arange(len(full)), frac)
            _write_instances(fb, image_id, masks, cls, scores)


def eval_semantic(cfg: dict, sem_path: str, ids: list[str]) -> dict:
    voc = open_dataset(cfg["dataset"])
    n = len(cfg["dataset"]["classes"]) + 1
    conf = np.zeros((n, n), np.int64)
    with open_stage(sem_path) as f:
        for image_id in ids:
            conf += confusion(f[image_id]["label"][()], voc.semantic_gt(image_id), n)
    return semantic_report(conf, len(ids))


def eval_instances(cfg: dict, path: str, ids: list[str], gt_cache: dict | None = None) -> dict:
    """mAP^r at 0.25/0.5/0.7/0.75 of an instance file against SegmentationObject."""
    voc = open_dataset(cfg["dataset"])
    ev = InstanceEvaluator(len(cfg["dataset"]["classes"]), cfg["evaluate"]["iou_thresholds"])
    with open_stage(path) as f:
        for image_id in ids:
            gt = gt_cache[image_id] if gt_cache is not None and image_id in gt_cache else voc.instance_gt(image_id)
            if gt_cache is not None:
                gt_cache[image_id] = gt
            masks, classes, scores = read_instances(f, image_id)
            ev.add(masks, classes, scores, *gt[:2])
    res = ev.summary()
    out = {f"map{round(t * 100):02d}": v for t, v in res.items()}
    out["per_class_ap"] = {f"{t:.2f}": [None if np.isnan(x) else float(x) for x in row]
                           for t, row in zip(ev.thresholds, ev.average_precision())}
    out["images"] = len(ids)
    return out


def eval_pseudo(cfg: dict, sem_path: str, ins_path: str, cc_path: str, sem_cc_path: str, out_json: str) -> dict:
    ids = split_ids(cfg["dataset"], "eval_list")
    cache: dict = {}
    result = {"sem_pseudo": eval_semantic(cfg, sem_path, ids),
              "ins_pseudo": eval_instances(cfg, ins_path, ids, cache),
              "baseline_cc": eval_instances(cfg, cc_path, ids, cache),
              "baseline_sem_cc": eval_instances(cfg, sem_cc_path, ids, cache)}
    write_json(out_json, result)
    log("eval_pseudo: sem mIoU {:.4f}; ins mAP50 {:.4f}; baseline_cc mAP50 {:.4f}; baseline_sem_cc mAP50 {:.4f}".format(
        result["sem_pseudo"]["miou"], result["ins_pseudo"]["map50"], result["baseline_cc"]["map50"],
        result["baseline_sem_cc"]["map50"]))
    return result


ORACLES = ("pipeline", "gt_instance_map", "gt_boundary", "gt_cams")


@torch.no_grad()
def diagnose(cfg: dict, cams_path: str, irn_path: str, out_json: str) -> dict:
    """Oracle diagnostics: the semantic mIoU and instance mAP^r of the pseudo labels when one input
    of the label synthesis is replaced by its ground-truth counterpart -- the class-agnostic
    instance map (SegmentationObject), the boundary map (class edges of SegmentationClass), the
    CAMs (class masks) -- on the first ``diagnostics.images`` images of the eval list.
    ``pipeline`` replaces nothing: on the whole eval list it equals eval_pseudo's numbers."""
    device = resolve_device(cfg["device"])
    lab, p = cfg["labels"], cfg["propagate"]
    voc = open_dataset(cfg["dataset"])
    ids = split_ids(cfg["dataset"], "eval_list")
    n = cfg["diagnostics"]["images"]
    ids = ids[:n] if n else ids
    n_cls = len(cfg["dataset"]["classes"])
    confs = {o: np.zeros((n_cls + 1, n_cls + 1), np.int64) for o in ORACLES}
    evals = {o: InstanceEvaluator(n_cls, cfg["evaluate"]["iou_thresholds"]) for o in ORACLES}
    with open_stage(cams_path) as cams, open_stage(irn_path) as irn:
        for image_id in Progress(ids, "diagnostics"):
            c, r = cams[image_id], irn[image_id]
            keys = c["keys"][()]
            size = tuple(int(v) for v in r["image_size"][()])
            semantic = voc.semantic_gt(image_id)
            gt_masks, gt_classes, _ = voc.instance_gt(image_id)
            own_cams = torch.from_numpy(c["cam_s4"][()]).to(device)
            own_boundary = torch.from_numpy(r["boundary"][()]).to(device)
            own_inst = instance_map(torch.from_numpy(r["disp"][()]).to(device), lab["centroid_iterations"],
                                    lab["centroid_threshold"])
            inputs = {
                "pipeline": (own_cams, own_boundary, own_inst),
                "gt_instance_map": (own_cams, own_boundary, gt_instance_map(voc.object_map(image_id)).to(device)),
                "gt_boundary": (own_cams, gt_boundary(semantic).to(device), own_inst),
                "gt_cams": (gt_class_maps(semantic, keys).to(device), own_boundary, own_inst),
            }
            for oracle, (cm, bd, inst) in inputs.items():
                label, _ = semantic_labels(cm, keys, bd, size, p, lab["sem_bg_threshold"])
                confs[oracle] += confusion(label.cpu().numpy(), semantic, n_cls + 1)
                masks, cls, scores = instance_labels(cm, keys, bd, inst, size, p, lab["ins_bg_threshold"],
                                                     lab["min_fraction"])
                evals[oracle].add(masks.cpu().numpy(), cls.cpu().numpy(), scores.cpu().numpy(), gt_masks, gt_classes)
    result = {"images": len(ids)}
    for oracle in ORACLES:
        result[oracle] = {"miou": semantic_report(confs[oracle], len(ids))["miou"],
                          **{f"map{round(t * 100):02d}": v for t, v in evals[oracle].summary().items()}}
    write_json(out_json, result)
    log("diagnostics (" + str(len(ids)) + " images): " + "; ".join(
        f"{o} mIoU {result[o]['miou']:.3f} mAP50 {result[o].get('map50', float('nan')):.3f}" for o in ORACLES))
    return result
