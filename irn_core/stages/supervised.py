"""Stages of METHOD.md 6: Mask R-CNN on the instance pseudo labels (and, for context, on the
ground truth), DeepLabV3 on the semantic pseudo labels; both judged on held-out images."""

from __future__ import annotations

import json
import time

import numpy as np
import torch

from ..config import without_execution
from ..data import ImageSet, RelationSet, epoch_loader
from ..evaluate import InstanceEvaluator, confusion, semantic_report
from ..io import coco_instances, open_stage, rle_encode, write_json
from ..models import build_backbone, load_cam_backbone
from ..progress import Progress, log
from ..relations import crf_probabilities
from ..supervised import (CocoInstances, build_deeplab, build_maskrcnn, collate, keep_valid_targets,
                          predict_segmentation, unit_image)
from ..device import autocast_dtype, place, resolve_device
from ..train import Checkpointer, checkpoint_tag, fit, poly_factor, step_factor
from ..datasets import open_dataset, split_ids
from . import coco_image_numbers


def write_gt_coco(cfg: dict, split_key: str, out_json: str) -> None:
    """Ground-truth instances of a split (SegmentationObject) as a COCO instances JSON.

    Images are numbered 1, 2, ... in split order, as the pseudo-label JSON numbers the ordered
    union of the train and eval lists (train first): for the training split both files give an
    image the same id, so a detector trained on either sees the same images in the same order.
    """
    voc = open_dataset(cfg["dataset"])
    numbers = coco_image_numbers(split_ids(cfg["dataset"], split_key))
    images, instances = [], []
    for image_id, num in Progress(list(numbers.items()), f"gt_coco {split_key}"):
        masks, classes, _ = voc.instance_gt(image_id)
        h, w = masks.shape[1:] if len(masks) else voc.image_size(image_id)
        images.append({"id": num, "file_name": f"{image_id}.jpg", "height": int(h), "width": int(w)})
        instances += [{"image_id": num, "mask": m, "class": int(c), "score": 1.0} for m, c in zip(masks, classes)]
    write_json(out_json, coco_instances(images, instances, list(cfg["dataset"]["classes"])))


def _backbone(cfg: dict, section: dict, cam_model: str | None, last_stride: int):
    """Backbone per ``init``: scratch, imagenet (cam.pretrained file) or the CAM network's weights."""
    arch = cfg["cam"]["backbone"]
    if section["init"] == "imagenet":
        if not cfg["cam"]["pretrained"]:
            raise ValueError("init 'imagenet' needs cam.pretrained (a local weights file)")
        return build_backbone(arch, cfg["cam"]["pretrained"], last_stride), True
    net = build_backbone(arch, last_stride=last_stride)
    if section["init"] == "cam":
        load_cam_backbone(net, cam_model)
        log("backbone initialised from the CAM network (trained with image-level labels only)")
    else:
        log("no pretrained weights: the backbone is trained from scratch")
    return net, False


def _train_and_save(model, loader_fn, step_fn, c: dict, ckpt: Checkpointer, name: str, model_out: str,
                    amp: torch.dtype | None, device: torch.device, **schedule) -> dict:
    """Train every parameter that requires grad at one lr, then write the final model atomically
    (and drop the checkpoints). ``schedule``: fit's ``iterations`` and ``lr_factor``."""
    t0 = time.perf_counter()
    history = fit(model, [{"params": [p for p in model.parameters() if p.requires_grad], "lr": c["lr"]}],
                  loader_fn, step_fn, c, ckpt, name, amp, device.type, **schedule)
    ckpt.finish({"model": model.state_dict(), "history": history, "train_seconds": time.perf_counter() - t0},
                model_out)
    return {"history": history}


def _tag(cfg: dict, section: str, data_inputs: list[str], cam_model: str) -> str:
    """Checkpoint tag of a supervised model: settings, data, and the CAM weights when it starts
    from them."""
    return checkpoint_tag(without_execution(cfg), data_inputs + ([cam_model] if cfg[section]["init"] == "cam" else []))


def train_maskrcnn(cfg: dict, coco_json: str, cam_model: str, manifests: list[str], model_out: str,
                   ckpt_dir: str) -> dict:
    c = cfg["maskrcnn"]
    device = resolve_device(cfg["device"])
    torch.manual_seed(c["seed"])
    backbone, frozen = _backbone(cfg, c, cam_model, last_stride=2)
    model = place(build_maskrcnn(backbone, len(cfg["dataset"]["classes"]), c, frozen), cfg, device)
    data = CocoInstances(open_dataset(cfg["dataset"]), coco_json, train=True, seed=c["seed"])
    n_ann = sum(len(a) for a in data.anns.values())
    log(f"train_maskrcnn: {len(data)} images, {n_ann} instances from {coco_json}")

    def loader_fn(epoch):
        return epoch_loader(data, epoch, c["batch_size"], c["seed"], cfg["num_workers"], collate_fn=collate)

    def step_fn(module, batch):
        imgs, targets = batch
        targets = keep_valid_targets(list(targets))
        losses = module([i.to(device) for i in imgs], [{k: v.to(device) for k, v in t.items()} for t in targets])
        return {"total": sum(losses.values()), **losses}

    ckpt = Checkpointer(ckpt_dir, tag=_tag(cfg, "maskrcnn", [coco_json, *manifests], cam_model))
    factor = (step_factor(c["lr_steps"], c["lr_gamma"], c["warmup_iters"]) if c["lr_schedule"] == "steps"
              else poly_factor)
    return _train_and_save(model, loader_fn, step_fn, c, ckpt, "train_maskrcnn", model_out,
                           autocast_dtype(cfg, device), device, iterations=c["iterations"], lr_factor=factor)


@torch.no_grad()
def eval_maskrcnn(cfg: dict, model_path: str, val_coco: str, out_json: str, predictions_json: str) -> dict:
    """VOC mAP^r and COCO segm AP of the detector on the held-out split; predictions saved as
    COCO results JSON."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    c = cfg["maskrcnn"]
    device = resolve_device(cfg["device"])
    # frozen BatchNorm computes what a BatchNorm in eval mode does, and loads either's weights
    model = build_maskrcnn(build_backbone(cfg["cam"]["backbone"], last_stride=2), len(cfg["dataset"]["classes"]), c,
                           frozen_bn=True)
    model.load_state_dict(torch.load(model_path, map_location="cpu", weights_only=False)["model"])
    place(model, cfg, device).eval()
    voc = open_dataset(cfg["dataset"])
    gt = json.loads(open(val_coco).read())
    ev = InstanceEvaluator(len(cfg["dataset"]["classes"]), cfg["evaluate"]["iou_thresholds"])
    results = []
    for info in Progress(gt["images"], "eval_maskrcnn"):
        image_id = info["file_name"].rsplit(".", 1)[0]
        img = unit_image(voc, image_id).to(device)
        out = model([img])[0]
        masks = (out["masks"][:, 0] > 0.5).cpu().numpy()
        classes = (out["labels"] - 1).cpu().numpy()
        scores = out["scores"].cpu().numpy()
        ev.add(masks, classes, scores, *voc.instance_gt(image_id)[:2])
        results += [{"image_id": info["id"], "category_id": int(k) + 1, "segmentation": rle_encode(m),
                     "score": float(s)}
                    for m, k, s in zip(masks, classes, scores)]
    write_json(predictions_json, results)
    out = {f"map{round(t * 100):02d}": v for t, v in ev.summary().items()}
    out["coco_segm_ap"] = _coco_segm_ap(val_coco, results, COCO, COCOeval)
    out["images"] = len(gt["images"])
    write_json(out_json, out)
    log("eval_maskrcnn: " + " ".join(f"{k} {v:.4f}" for k, v in out.items() if k != "images"))
    return out


def _coco_segm_ap(gt_json: str, results: list[dict], COCO, COCOeval) -> float:
    import contextlib
    import io

    if not results:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_json)
        dt = gt.loadRes([dict(r, segmentation=dict(r["segmentation"], counts=r["segmentation"]["counts"].encode()))
                         for r in results])
        e = COCOeval(gt, dt, "segm")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return float(max(e.stats[0], 0.0))


def train_deeplab(cfg: dict, sem_path: str, cam_model: str, train_manifest: str, model_out: str,
                  ckpt_dir: str) -> dict:
    c = cfg["deeplab"]
    device = resolve_device(cfg["device"])
    torch.manual_seed(c["seed"])
    ids = split_ids(cfg["dataset"], "train_list")
    with open_stage(sem_path) as f:
        labels = {i: f[i]["label"][()] for i in ids}
    backbone, frozen = _backbone(cfg, c, cam_model, last_stride=1)
    model = place(build_deeplab(backbone, len(cfg["dataset"]["classes"]) + 1, frozen), cfg, device)
    data = RelationSet(open_dataset(cfg["dataset"]), ids, labels, tuple(c["scale_range"]), c["crop_size"], seed=c["seed"], stride=1)

    def loader_fn(epoch):
        return epoch_loader(data, epoch, c["batch_size"], c["seed"], cfg["num_workers"])

    def step_fn(module, batch):
        img, lab = batch
        out = module(img.to(device))["out"].float()
        return {"total": torch.nn.functional.cross_entropy(out, lab.to(device), ignore_index=255)}

    ckpt = Checkpointer(ckpt_dir, tag=_tag(cfg, "deeplab", [sem_path, train_manifest], cam_model))
    return _train_and_save(model, loader_fn, step_fn, c, ckpt, "train_deeplab", model_out,
                           autocast_dtype(cfg, device), device)


@torch.no_grad()
def eval_deeplab(cfg: dict, model_path: str, out_json: str) -> dict:
    device = resolve_device(cfg["device"])
    n = len(cfg["dataset"]["classes"]) + 1
    model = build_deeplab(build_backbone(cfg["cam"]["backbone"]), n, frozen_bn=True)
    model.load_state_dict(torch.load(model_path, map_location="cpu", weights_only=False)["model"])
    place(model, cfg, device).eval()
    voc = open_dataset(cfg["dataset"])
    ids = split_ids(cfg["dataset"], "val_list")
    c = cfg["deeplab"]
    conf = np.zeros((n, n), np.int64)
    for image_id, views, size in Progress(ImageSet(voc, ids, scales=c["test_scales"]), "eval_deeplab"):
        probs = predict_segmentation(model, [v.to(device) for v in views], c["test_flip"], size).float().cpu().numpy()
        if c["crf"]:
            probs = crf_probabilities(voc.load_image(image_id), probs)
        conf += confusion(probs.argmax(0), voc.semantic_gt(image_id), n)
    out = semantic_report(conf, len(ids))
    write_json(out_json, out)
    log(f"eval_deeplab: mIoU {out['miou']:.4f} on {len(ids)} held-out images")
    return out
