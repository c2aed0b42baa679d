"""Stages of METHOD.md 7 for the pseudo labels: their semantic mIoU and instance mAP^r (and the
baselines') on the images with ground truth, and the oracle diagnostics."""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np
import torch

from ..cam import stage_cams
from ..data import normalise
from ..datasets import stage_dataset, stage_ids
from ..device import resolve_device
from ..evaluate import InstanceEvaluator, confusion, semantic_report
from ..instances import instance_map
from ..io import open_stage, read_instances, write_json
from ..progress import Progress, log
from ..propagate import upsample_normalise
from ..synthesis import (
    crf_labels,
    gt_boundary,
    gt_class_maps,
    gt_instance_map,
    instance_labels,
    label_instances,
    label_semantic,
    semantic_labels,
)
from .irnet import irn_forward, load_irnet
from .labels import read_walk

# what each runner reads (irn_core.config.rule_settings)
SETTINGS = {
    "eval_pseudo": [
        "split:eval",
        "evaluate",
        "labels.sem_bg_threshold",
        "labels.ins_bg_threshold",
        "labels.sem_sweep",
        "labels.ins_sweep",
        "labels.min_fraction",
        "labels.crf",
    ],
    # IRNet's maps are made again for its images, as infer_irn makes them (that file is temporary)
    "diagnostics": [
        "split:eval",
        "propagate",
        "labels",
        "evaluate",
        "diagnostics",
        "cam.backbone",
        "irn.infer_pad_to",
        "irn.flip_aligned",
        "irn.infer_scales",
    ],
}


BEST_ON_GT = "the threshold that scores best on the ground truth: reporting, not tuning"


def instance_report(ev: InstanceEvaluator, images: int) -> dict:
    """The evaluation record of instances: mAP^r at each IoU level, AP per class, image count."""
    out = {f"map{round(t * 100):02d}": v for t, v in ev.summary().items()}
    out["per_class_ap"] = {
        f"{t:.2f}": [None if np.isnan(x) else float(x) for x in row]
        for t, row in zip(ev.thresholds, ev.average_precision())
    }
    out["images"] = images
    return out


def eval_pseudo(
    cfg: dict, sem_path: str, ins_path: str, cc_path: str, sem_cc_path: str, walk_path: str, out_json: str
) -> dict:
    """On the eval list, in one pass over its images: the semantic mIoU of the semantic pseudo
    labels, the instance mAP^r of the instance pseudo labels and of the two baselines, and both
    label kinds over a sweep of background thresholds (``labels.sem_sweep`` / ``ins_sweep``, the
    configured thresholds included), relabelled from the walk file as make_labels labels it; the
    best threshold on the ground truth is marked as such (``best_on_gt``). With ``labels.crf`` the
    sweeps judge the labels before the dense CRF (``crf`` in each section says whether the labels
    themselves were refined)."""
    lab = cfg["labels"]
    data = stage_dataset(cfg)
    ids = stage_ids(cfg, "eval_list")
    n = len(cfg["dataset"]["classes"]) + 1
    sem_t = sorted(set(lab["sem_sweep"]) | {lab["sem_bg_threshold"]})
    ins_t = sorted(set(lab["ins_sweep"]) | {lab["ins_bg_threshold"]})
    conf, sweep_confs = np.zeros((n, n), np.int64), np.zeros((len(sem_t), n, n), np.int64)
    evals = {k: InstanceEvaluator(n - 1, cfg["evaluate"]["iou_thresholds"]) for k in ("ins", "cc", "sem_cc")}
    sweep_evals = [InstanceEvaluator(n - 1, cfg["evaluate"]["iou_thresholds"]) for _ in ins_t]
    files = {"sem": sem_path, "ins": ins_path, "cc": cc_path, "sem_cc": sem_cc_path, "walk": walk_path}
    with ExitStack() as stack:
        f = {k: stack.enter_context(open_stage(path)) for k, path in files.items()}
        for image_id in Progress(ids, "eval_pseudo"):
            semantic = data.semantic_gt(image_id)
            gt_masks, gt_classes, _ = data.instance_gt(image_id)
            conf += confusion(f["sem"][image_id]["label"][()], semantic, n)
            for key, ev in evals.items():
                ev.add(*read_instances(f[key], image_id), gt_masks, gt_classes)
            keys, sem_walk, ins_walk, map_classes, size = read_walk(f["walk"][image_id])
            sem_up, ins_up = upsample_normalise(sem_walk, size), upsample_normalise(ins_walk, size)
            for k, t in enumerate(sem_t):
                sweep_confs[k] += confusion(label_semantic(sem_up, keys, t)[0].numpy(), semantic, n)
            for ev, t in zip(sweep_evals, ins_t):
                masks, cls, scores = label_instances(ins_up, map_classes, t, lab["min_fraction"])
                ev.add(masks.numpy(), cls.numpy(), scores.numpy(), gt_masks, gt_classes)
    sem_sweep = {f"{t:.2f}": semantic_report(c, len(ids))["miou"] for t, c in zip(sem_t, sweep_confs)}
    ins_sweep = {f"{t:.2f}": instance_report(ev, len(ids)) for t, ev in zip(ins_t, sweep_evals)}
    ins_sweep = {t: {k: v for k, v in r.items() if k.startswith("map")} for t, r in ins_sweep.items()}
    best_sem = max(sem_sweep, key=sem_sweep.get)
    best_ins = max(ins_sweep, key=lambda t: ins_sweep[t]["map50"])
    result = {
        "sem_pseudo": {
            **semantic_report(conf, len(ids)),
            "threshold": lab["sem_bg_threshold"],
            "crf": lab["crf"],
            "sweep": sem_sweep,
            "best_on_gt": {"threshold": float(best_sem), "miou": sem_sweep[best_sem], "note": BEST_ON_GT},
        },
        "ins_pseudo": {
            **instance_report(evals["ins"], len(ids)),
            "threshold": lab["ins_bg_threshold"],
            "crf": lab["crf"],
            "sweep": ins_sweep,
            "best_on_gt": {"threshold": float(best_ins), **ins_sweep[best_ins], "note": BEST_ON_GT},
        },
        "baseline_cc": instance_report(evals["cc"], len(ids)),
        "baseline_sem_cc": instance_report(evals["sem_cc"], len(ids)),
    }
    write_json(out_json, result)
    log(
        f"eval_pseudo: sem mIoU {result['sem_pseudo']['miou']:.4f} at {lab['sem_bg_threshold']}; ins mAP50 "
        f"{result['ins_pseudo']['map50']:.4f} at {lab['ins_bg_threshold']}; baseline_cc mAP50 "
        f"{result['baseline_cc']['map50']:.4f}; baseline_sem_cc mAP50 {result['baseline_sem_cc']['map50']:.4f}"
    )
    return result


ORACLES = ("pipeline", "gt_instance_map", "gt_boundary", "gt_cams")


@torch.no_grad()
def diagnostics(cfg: dict, cams_path: str, irn_model: str, out_json: str) -> dict:
    """Oracle diagnostics: the semantic mIoU and instance mAP^r of the pseudo labels when one input
    of the label synthesis is replaced by its ground-truth counterpart -- the class-agnostic
    instance map (SegmentationObject), the boundary map (class edges of SegmentationClass), the
    CAMs (class masks) -- on the first ``diagnostics.images`` images of the eval list.
    ``pipeline`` replaces nothing: on the whole eval list it equals eval_pseudo's numbers. IRNet's
    boundary map and displacement field come from its model (``irn_model``), made as infer_irn
    makes them, whose stage file is temporary."""
    device = resolve_device(cfg["device"])
    net = load_irnet(cfg, irn_model, device)
    lab, walk = cfg["labels"], cfg["propagate"]
    data = stage_dataset(cfg)
    ids = stage_ids(cfg, "eval_list")
    n = cfg["diagnostics"]["images"]
    ids = ids[:n] if n else ids
    n_cls = len(cfg["dataset"]["classes"])
    confs = {o: np.zeros((n_cls + 1, n_cls + 1), np.int64) for o in ORACLES}
    evals = {o: InstanceEvaluator(n_cls, cfg["evaluate"]["iou_thresholds"]) for o in ORACLES}
    irn = cfg["irn"]
    with open_stage(cams_path) as cams:
        for image_id in Progress(ids, "diagnostics"):
            image = data.load_image(image_id)
            img = torch.from_numpy(normalise(image))
            boundary, disp = irn_forward(
                net, img.to(device), irn["infer_pad_to"], irn["flip_aligned"], irn["infer_scales"]
            )
            keys, cam_s4 = stage_cams(cams[image_id], 4)
            size = tuple(img.shape[-2:])
            semantic = data.semantic_gt(image_id)
            gt_masks, gt_classes, _ = data.instance_gt(image_id)
            own_cams = torch.from_numpy(cam_s4).to(device)
            own_boundary = boundary.float()
            own_inst = instance_map(disp.float(), lab["centroid_iterations"], lab["centroid_threshold"])
            inputs = {
                "pipeline": (own_cams, own_boundary, own_inst),
                "gt_instance_map": (own_cams, own_boundary, gt_instance_map(data.object_map(image_id)).to(device)),
                "gt_boundary": (own_cams, gt_boundary(semantic).to(device), own_inst),
                "gt_cams": (gt_class_maps(semantic, keys).to(device), own_boundary, own_inst),
            }
            for oracle, (cm, bd, inst) in inputs.items():
                label, _ = semantic_labels(cm, keys, bd, size, walk, lab["sem_bg_threshold"])
                masks, cls, scores = instance_labels(
                    cm, keys, bd, inst, size, walk, lab["ins_bg_threshold"], lab["min_fraction"]
                )
                label, masks, cls, scores = (t.cpu().numpy() for t in (label, masks, cls, scores))
                if lab["crf"]:  # refined as make_labels refines them
                    label, masks, cls, scores = crf_labels(image, label, masks, cls, scores, lab["crf_min_kept"])
                confs[oracle] += confusion(label, semantic, n_cls + 1)
                evals[oracle].add(masks, cls, scores, gt_masks, gt_classes)
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
