"""Stages of METHOD.md 7 for the pseudo labels: their semantic mIoU and instance mAP^r (and the
baselines') on the images with ground truth, and the oracle diagnostics."""

from __future__ import annotations

import numpy as np
import torch

from ..datasets import open_dataset, split_ids
from ..device import resolve_device
from ..evaluate import InstanceEvaluator, confusion, semantic_report
from ..instances import instance_map
from ..io import open_stage, read_instances, write_json
from ..progress import Progress, log
from ..synthesis import gt_boundary, gt_class_maps, gt_instance_map, instance_labels, semantic_labels

# what each runner reads (irn_core.config.rule_settings)
SETTINGS = {
    "eval_pseudo": ["split:eval", "evaluate"],
    "diagnostics": ["split:eval", "propagate", "labels", "evaluate", "diagnostics"],
}


def eval_semantic(cfg: dict, sem_path: str, ids: list[str]) -> dict:
    """Semantic mIoU of a label file against the semantic ground truth."""
    data = open_dataset(cfg["dataset"])
    n = len(cfg["dataset"]["classes"]) + 1
    conf = np.zeros((n, n), np.int64)
    with open_stage(sem_path) as f:
        for image_id in ids:
            conf += confusion(f[image_id]["label"][()], data.semantic_gt(image_id), n)
    return semantic_report(conf, len(ids))


def eval_instances(cfg: dict, path: str, ids: list[str], gt_cache: dict | None = None) -> dict:
    """mAP^r at the configured IoU levels of an instance file against the instance ground truth."""
    data = open_dataset(cfg["dataset"])
    ev = InstanceEvaluator(len(cfg["dataset"]["classes"]), cfg["evaluate"]["iou_thresholds"])
    with open_stage(path) as f:
        for image_id in ids:
            gt = gt_cache[image_id] if gt_cache is not None and image_id in gt_cache else data.instance_gt(image_id)
            if gt_cache is not None:
                gt_cache[image_id] = gt
            masks, classes, scores = read_instances(f, image_id)
            ev.add(masks, classes, scores, *gt[:2])
    res = ev.summary()
    out = {f"map{round(t * 100):02d}": v for t, v in res.items()}
    out["per_class_ap"] = {
        f"{t:.2f}": [None if np.isnan(x) else float(x) for x in row]
        for t, row in zip(ev.thresholds, ev.average_precision())
    }
    out["images"] = len(ids)
    return out


def eval_pseudo(cfg: dict, sem_path: str, ins_path: str, cc_path: str, sem_cc_path: str, out_json: str) -> dict:
    """Semantic mIoU of the semantic pseudo labels, instance mAP^r of the instance pseudo labels and
    of the two baselines, on the eval list."""
    ids = split_ids(cfg["dataset"], "eval_list")
    cache: dict = {}
    result = {
        "sem_pseudo": eval_semantic(cfg, sem_path, ids),
        "ins_pseudo": eval_instances(cfg, ins_path, ids, cache),
        "baseline_cc": eval_instances(cfg, cc_path, ids, cache),
        "baseline_sem_cc": eval_instances(cfg, sem_cc_path, ids, cache),
    }
    write_json(out_json, result)
    log(
        "eval_pseudo: sem mIoU {:.4f}; ins mAP50 {:.4f}; baseline_cc mAP50 {:.4f}; baseline_sem_cc mAP50 {:.4f}".format(
            result["sem_pseudo"]["miou"],
            result["ins_pseudo"]["map50"],
            result["baseline_cc"]["map50"],
            result["baseline_sem_cc"]["map50"],
        )
    )
    return result


ORACLES = ("pipeline", "gt_instance_map", "gt_boundary", "gt_cams")


@torch.no_grad()
def diagnostics(cfg: dict, cams_path: str, irn_path: str, out_json: str) -> dict:
    """Oracle diagnostics: the semantic mIoU and instance mAP^r of the pseudo labels when one input
    of the label synthesis is replaced by its ground-truth counterpart -- the class-agnostic
    instance map (SegmentationObject), the boundary map (class edges of SegmentationClass), the
    CAMs (class masks) -- on the first ``diagnostics.images`` images of the eval list.
    ``pipeline`` replaces nothing: on the whole eval list it equals eval_pseudo's numbers."""
    device = resolve_device(cfg["device"])
    lab, walk = cfg["labels"], cfg["propagate"]
    data = open_dataset(cfg["dataset"])
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
            semantic = data.semantic_gt(image_id)
            gt_masks, gt_classes, _ = data.instance_gt(image_id)
            own_cams = torch.from_numpy(c["cam_s4"][()]).to(device)
            own_boundary = torch.from_numpy(r["boundary"][()]).to(device)
            own_inst = instance_map(
                torch.from_numpy(r["disp"][()]).to(device), lab["centroid_iterations"], lab["centroid_threshold"]
            )
            inputs = {
                "pipeline": (own_cams, own_boundary, own_inst),
                "gt_instance_map": (own_cams, own_boundary, gt_instance_map(data.object_map(image_id)).to(device)),
                "gt_boundary": (own_cams, gt_boundary(semantic).to(device), own_inst),
                "gt_cams": (gt_class_maps(semantic, keys).to(device), own_boundary, own_inst),
            }
            for oracle, (cm, bd, inst) in inputs.items():
                label, _ = semantic_labels(cm, keys, bd, size, walk, lab["sem_bg_threshold"])
                confs[oracle] += confusion(label.cpu().numpy(), semantic, n_cls + 1)
                masks, cls, scores = instance_labels(
                    cm, keys, bd, inst, size, walk, lab["ins_bg_threshold"], lab["min_fraction"]
                )
                evals[oracle].add(masks.cpu().numpy(), cls.cpu().numpy(), scores.cpu().numpy(), gt_masks, gt_classes)
    result = {"images": len(ids)}
    for oracle in ORACLES:
        result[oracle] = {
            "miou": semantic_report(confs[oracle], len(ids))["miou"],
            **{f"map{round(t * 100):02d}": v for t, v in evals[oracle].summary().items()},
        }
    write_json(out_json, result)
    log(
        "diagnostics ("
        + str(len(ids))
        + " images): "
        + "; ".join(
            f"{o} mIoU {result[o]['miou']:.3f} mAP50 {result[o].get('map50', float('nan')):.3f}" for o in ORACLES
        )
    )
    return result
