"""Stages of METHOD.md 6 for instances: Mask R-CNN trained on the instance pseudo labels (and, for
context, on the ground truth), judged on the held-out split."""

from __future__ import annotations

import torch

from ..checkpoints import load_checkpoint, save_scripted
from ..coco import image_key, instances_json, load, rle_encode, segm_ap
from ..datasets import stage_dataset, stage_ids
from ..device import resolve_device, to_device
from ..distributed import dist_info
from ..evaluate import InstanceEvaluator
from ..io import write_json
from ..models import build_backbone
from ..progress import Progress, log
from ..supervised import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CocoInstances,
    build_maskrcnn,
    collate,
    init_backbone,
    keep_valid_targets,
    maskrcnn_input,
)
from . import Training, coco_image_numbers

# what each runner reads (irn_core.config.rule_settings)
SETTINGS = {
    "gt_coco": ["split:{split}"],
    # the images are those of the training JSON (pseudo labels: train and eval ids)
    "train_maskrcnn": [
        "split:train",
        "split:eval",
        "mixed_precision",
        "train_processes",
        "cam.backbone",
        "maskrcnn.min_size",
        "maskrcnn.max_size",
        "maskrcnn.fpn_channels",
        "maskrcnn.anchor_sizes",
        "maskrcnn.mask_head_channels",
        "maskrcnn.box_head_dim",
        "maskrcnn.rpn_pre_nms_top_n",
        "maskrcnn.rpn_post_nms_top_n",
        "maskrcnn.frozen_stages",
        "maskrcnn.rois_per_image",
        "maskrcnn.detections_per_image",
        "maskrcnn.init",
        "maskrcnn.optimizer",
        "maskrcnn.momentum",
        "maskrcnn.epochs",
        "maskrcnn.iterations",
        "maskrcnn.lr_schedule",
        "maskrcnn.lr_steps",
        "maskrcnn.lr_gamma",
        "maskrcnn.warmup_iters",
        "maskrcnn.batch_size",
        "maskrcnn.lr",
        "maskrcnn.weight_decay",
        "maskrcnn.seed",
        "cam.pretrained if maskrcnn.init == imagenet",
    ],
    "eval_maskrcnn": [
        "split:val",
        "cam.backbone",
        "maskrcnn.min_size",
        "maskrcnn.max_size",
        "maskrcnn.fpn_channels",
        "maskrcnn.anchor_sizes",
        "maskrcnn.mask_head_channels",
        "maskrcnn.box_head_dim",
        "maskrcnn.rpn_pre_nms_top_n",
        "maskrcnn.rpn_post_nms_top_n",
        "maskrcnn.frozen_stages",
        "maskrcnn.rois_per_image",
        "maskrcnn.detections_per_image",
        "evaluate",
    ],
}


def gt_coco(cfg: dict, split_key: str, out_json: str) -> None:
    """Ground-truth instances of a split as a COCO instances JSON.

    Images are numbered 1, 2, ... in split order, as the pseudo-label JSON numbers the ordered
    union of the train and eval lists (train first): for the training split both files give an
    image the same id, so a detector trained on either sees the same images in the same order.
    """
    data = stage_dataset(cfg)
    numbers = coco_image_numbers(stage_ids(cfg, split_key))
    images, instances = [], []
    for image_id, num in Progress(list(numbers.items()), f"gt_coco {split_key}"):
        masks, classes, _ = data.instance_gt(image_id)
        h, w = masks.shape[1:] if len(masks) else data.image_size(image_id)
        images.append({"id": num, "file_name": f"{image_id}.jpg", "height": int(h), "width": int(w)})
        instances += [{"image_id": num, "mask": m, "class": int(c), "score": 1.0} for m, c in zip(masks, classes)]
    write_json(out_json, instances_json(images, instances, list(cfg["dataset"]["classes"])))


def maskrcnn_input_spec(settings: dict) -> dict:
    """How a Mask R-CNN of ``settings`` takes an image (its model file's ``input``)."""
    return {
        "image": "RGB, (3, H, W) float in [0, 1], any size; the model normalises and resizes it",
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "min_size": settings["min_size"],
        "max_size": settings["max_size"],
        "output": "boxes, labels (class index + 1), scores, masks (N, 1, H, W) probabilities at the image's size",
    }


def train_maskrcnn(
    cfg: dict,
    coco_json: str,
    cam_model: str | None,
    manifests: list[str],
    model_out: str,
    ckpt_dir: str,
    scripted_out: str | None = None,
) -> dict:
    """Mask R-CNN (FPN) on the instances of a COCO JSON (pseudo labels, or ground truth); the model
    file and, with ``scripted_out``, the model as TorchScript (checkpoints.save_scripted)."""
    settings = cfg["maskrcnn"]
    inputs = [coco_json, *manifests] + ([cam_model] if settings["init"] == "cam" else [])
    run = Training("train_maskrcnn", cfg, "maskrcnn", inputs, ckpt_dir)
    backbone, frozen = init_backbone(cfg, "maskrcnn", cam_model, last_stride=2)
    model = run.to_device(build_maskrcnn(backbone, len(cfg["dataset"]["classes"]), settings, frozen))
    data = CocoInstances(stage_dataset(cfg), coco_json, train=True, seed=settings["seed"])
    log(f"train_maskrcnn: {len(data)} images, {data.instances} instances from {coco_json}")

    def step(module, batch, device):
        imgs, targets = batch
        targets = keep_valid_targets(list(targets))
        losses = module([i.to(device) for i in imgs], [{k: v.to(device) for k, v in t.items()} for t in targets])
        return {"total": sum(losses.values()), **losses}

    params = [p for p in model.parameters() if p.requires_grad]
    history = run.fit(model, [{"params": params, "lr": settings["lr"]}], data, step, collate_fn=collate)
    spec = maskrcnn_input_spec(settings)
    run.save(model, model_out, history, arch=cfg["cam"]["backbone"], input=spec)
    if scripted_out and dist_info()[0] == 0:
        save_scripted(model, scripted_out, {"classes": list(cfg["dataset"]["classes"]), "input": spec})
    return {"history": history}


@torch.no_grad()
def eval_maskrcnn(cfg: dict, model_path: str, val_coco: str, out_json: str, predictions_json: str) -> dict:
    """VOC mAP^r and COCO segm AP of the detector on the held-out split; predictions saved as
    COCO results JSON."""
    device = resolve_device(cfg["device"])
    # frozen BatchNorm computes what a BatchNorm in eval mode does, and loads either's weights
    model = build_maskrcnn(
        build_backbone(cfg["cam"]["backbone"], last_stride=2),
        len(cfg["dataset"]["classes"]),
        cfg["maskrcnn"],
        frozen_bn=True,
    )
    model.load_state_dict(load_checkpoint(model_path)["model"])
    to_device(model, cfg, device).eval()
    data = stage_dataset(cfg)
    images = load(val_coco).dataset["images"]
    ev = InstanceEvaluator(len(cfg["dataset"]["classes"]), cfg["evaluate"]["iou_thresholds"])
    results = []
    for info in Progress(images, "eval_maskrcnn"):
        image_id = image_key(info["file_name"])
        out = model([maskrcnn_input(data, image_id).to(device)])[0]
        masks = (out["masks"][:, 0] > 0.5).cpu().numpy()
        classes = (out["labels"] - 1).cpu().numpy()
        scores = out["scores"].cpu().numpy()
        ev.add(masks, classes, scores, *data.instance_gt(image_id)[:2])
        results += [
            {"image_id": info["id"], "category_id": int(k) + 1, "segmentation": rle_encode(m), "score": float(s)}
            for m, k, s in zip(masks, classes, scores)
        ]
    write_json(predictions_json, results)
    out = {f"map{round(t * 100):02d}": v for t, v in ev.summary().items()}
    out["coco_segm_ap"] = segm_ap(val_coco, results)
    out["images"] = len(images)
    write_json(out_json, out)
    log("eval_maskrcnn: " + " ".join(f"{k} {v:.4f}" for k, v in out.items() if k != "images"))
    return out
