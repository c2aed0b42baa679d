"""Stages of METHOD.md 6 for semantics: DeepLabV3 trained on the semantic pseudo labels, judged on
the held-out split."""

from __future__ import annotations

import numpy as np
import torch

from ..checkpoints import load_checkpoint, save_scripted
from ..crf import crf_probabilities
from ..data import MEAN, STD, ImageSet, LabelMapCrops
from ..datasets import IGNORE, stage_dataset, stage_ids
from ..device import resolve_device, to_device
from ..distributed import dist_info
from ..evaluate import confusion, semantic_report
from ..io import StageArrays, write_json
from ..models import build_backbone
from ..progress import Progress, log
from ..supervised import build_deeplab, init_backbone, predict_segmentation
from . import Training

# what each runner reads (irn_core.config.rule_settings)
SETTINGS = {
    "train_deeplab": [
        "split:train",
        "mixed_precision",
        "train_processes",
        "cam.backbone",
        "deeplab.init",
        "deeplab.optimizer",
        "deeplab.momentum",
        "deeplab.epochs",
        "deeplab.batch_size",
        "deeplab.lr",
        "deeplab.weight_decay",
        "deeplab.scale_range",
        "deeplab.crop_size",
        "deeplab.seed",
        "cam.pretrained if deeplab.init == imagenet",
    ],
    "eval_deeplab": ["split:val", "cam.backbone", "deeplab.test_scales", "deeplab.test_flip", "deeplab.crf"],
}


def deeplab_input_spec() -> dict:
    """How a DeepLab takes an image (its model file's ``input``; multi-scale, flip and CRF are
    choices of its use, deeplab.test_scales / test_flip / crf)."""
    return {
        "image": "RGB, (3, H, W) float: (pixel value in 0..255 - mean) / std, any size",
        "mean": MEAN.tolist(),
        "std": STD.tolist(),
        "output": "out: (K + 1, h, w) class logits at stride 16 (0 background); upsample to the image",
    }


def train_deeplab(
    cfg: dict,
    sem_path: str,
    cam_model: str | None,
    train_manifest: str,
    model_out: str,
    ckpt_dir: str,
    scripted_out: str | None = None,
) -> dict:
    """DeepLabV3 on the semantic pseudo labels of the training split; the model file and, with
    ``scripted_out``, the model as TorchScript (checkpoints.save_scripted)."""
    settings = cfg["deeplab"]
    inputs = [sem_path, train_manifest] + ([cam_model] if settings["init"] == "cam" else [])
    run = Training("train_deeplab", cfg, "deeplab", inputs, ckpt_dir)
    ids = stage_ids(cfg, "train_list")
    labels = StageArrays(sem_path, "label")  # read per crop, not held
    backbone, frozen = init_backbone(cfg, "deeplab", cam_model, last_stride=1)
    model = run.to_device(build_deeplab(backbone, len(cfg["dataset"]["classes"]) + 1, frozen))
    crops = LabelMapCrops(
        stage_dataset(cfg),
        ids,
        labels,
        tuple(settings["scale_range"]),
        settings["crop_size"],
        seed=settings["seed"],
        stride=1,
    )

    def step(module, batch, device):
        img, lab = batch
        out = module(img.to(device))["out"].float()
        return {"total": torch.nn.functional.cross_entropy(out, lab.to(device), ignore_index=IGNORE)}

    params = [p for p in model.parameters() if p.requires_grad]
    history = run.fit(model, [{"params": params, "lr": settings["lr"]}], crops, step)
    spec = deeplab_input_spec()
    run.save(model, model_out, history, arch=cfg["cam"]["backbone"], input=spec)
    if scripted_out and dist_info()[0] == 0:
        save_scripted(model, scripted_out, {"classes": ["background", *cfg["dataset"]["classes"]], "input": spec})
    return {"history": history}


@torch.no_grad()
def eval_deeplab(cfg: dict, model_path: str, out_json: str) -> dict:
    """mIoU of DeepLab on the held-out split (multi-scale, flip and dense CRF as configured)."""
    device = resolve_device(cfg["device"])
    n = len(cfg["dataset"]["classes"]) + 1
    model = build_deeplab(build_backbone(cfg["cam"]["backbone"]), n, frozen_bn=True)
    model.load_state_dict(load_checkpoint(model_path)["model"])
    to_device(model, cfg, device).eval()
    data = stage_dataset(cfg)
    ids = stage_ids(cfg, "val_list")
    settings = cfg["deeplab"]
    conf = np.zeros((n, n), np.int64)
    for image_id, views, size in Progress(ImageSet(data, ids, scales=settings["test_scales"]), "eval_deeplab"):
        probs = predict_segmentation(model, [v.to(device) for v in views], settings["test_flip"], size)
        probs = probs.float().cpu().numpy()
        if settings["crf"]:
            probs = crf_probabilities(data.load_image(image_id), probs)
        conf += confusion(probs.argmax(0), data.semantic_gt(image_id), n)
    out = semantic_report(conf, len(ids))
    write_json(out_json, out)
    log(f"eval_deeplab: mIoU {out['miou']:.4f} on {len(ids)} held-out images")
    return out
