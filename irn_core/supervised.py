"""Fully supervised models trained on the pseudo labels (METHOD.md 6): torchvision Mask R-CNN
(instances) and DeepLabV3 (semantic), on the project's backbones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset as TorchDataset
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.segmentation.deeplabv3 import DeepLabHead, DeepLabV3

from .coco import annotation_mask, image_key, load
from .datasets import Dataset
from .models import ResNetBackbone, build_backbone, frozen_batchnorm, frozen_copy, load_cam_backbone
from .progress import log

# a backbone's stages, from the input (Detectron: res1 the stem, res2 layer1, ...)
STAGES = (("conv1", "bn1"), ("layer1",), ("layer2",), ("layer3",), ("layer4",))


def freeze_stages(backbone: ResNetBackbone, stages: int) -> ResNetBackbone:
    """The first ``stages`` stages of the backbone do not train (Detectron's FREEZE_AT; 2: the
    stem and layer1): their weights get no gradient and their BatchNorms become FrozenBatchNorm2d."""
    for name in (n for group in STAGES[:stages] for n in group):
        child = getattr(backbone, name)
        if isinstance(child, torch.nn.BatchNorm2d):
            setattr(backbone, name, frozen_copy(child))
        else:
            frozen_batchnorm(child)
        for p in getattr(backbone, name).parameters():
            p.requires_grad_(False)
    return backbone


IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the normalisation of an image in [0, 1] (torchvision's)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_maskrcnn(backbone: ResNetBackbone, num_classes: int, cfg: dict, frozen_bn: bool) -> MaskRCNN:
    """Mask R-CNN with an FPN on a stride-32 ResNet; ``num_classes`` foreground classes.
    ``frozen_bn`` (pretrained backbones): every BatchNorm of the backbone is FrozenBatchNorm2d; the
    first ``frozen_stages`` stages do not train. The RPN keeps ``rpn_pre_nms_top_n`` proposals per
    FPN level and image before its NMS, ``rpn_post_nms_top_n`` per image after it (train / test)."""
    if frozen_bn:  # pretrained: FrozenBatchNorm2d, which model.train() cannot unfreeze
        frozen_batchnorm(backbone)
    freeze_stages(backbone, cfg["frozen_stages"])
    chans = backbone.channels[1:]
    fpn = BackboneWithFPN(backbone, {f"layer{i}": str(i - 1) for i in range(1, 5)}, chans, cfg["fpn_channels"])
    anchors = AnchorGenerator(tuple((s,) for s in cfg["anchor_sizes"]), ((0.5, 1.0, 2.0),) * len(cfg["anchor_sizes"]))
    mc = cfg["mask_head_channels"]
    mask_head = MaskRCNNHeads(cfg["fpn_channels"], [mc] * 4, 1)
    rep = cfg["box_head_dim"]
    return MaskRCNN(
        fpn,
        num_classes=None,
        min_size=cfg["min_size"],
        max_size=cfg["max_size"],
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
        rpn_anchor_generator=anchors,
        mask_head=mask_head,
        box_head=TwoMLPHead(cfg["fpn_channels"] * 7 * 7, rep),
        box_predictor=FastRCNNPredictor(rep, num_classes + 1),
        rpn_pre_nms_top_n_train=cfg["rpn_pre_nms_top_n"]["train"],
        rpn_post_nms_top_n_train=cfg["rpn_post_nms_top_n"]["train"],
        rpn_pre_nms_top_n_test=cfg["rpn_pre_nms_top_n"]["test"],
        rpn_post_nms_top_n_test=cfg["rpn_post_nms_top_n"]["test"],
        mask_predictor=MaskRCNNPredictor(mc, mc, num_classes + 1),
        box_batch_size_per_image=cfg["rois_per_image"],
        box_detections_per_img=cfg["detections_per_image"],
    )


def init_backbone(cfg: dict, section: str, cam_model: str | None, last_stride: int) -> tuple[ResNetBackbone, bool]:
    """The backbone of a supervised model per its ``init``: from scratch, ImageNet's weights
    (``cam.pretrained``) or the CAM network's; and whether it is pretrained (frozen BatchNorm)."""
    arch, init = cfg["cam"]["backbone"], cfg[section]["init"]
    if init == "imagenet":
        if not cfg["cam"]["pretrained"]:
            raise ValueError(f"{section}.init 'imagenet' needs cam.pretrained (ImageNet weights)")
        return build_backbone(arch, cfg["cam"]["pretrained"], last_stride), True
    net = build_backbone(arch, last_stride=last_stride)
    if init == "cam":
        load_cam_backbone(net, cam_model)
        log("backbone initialised from the CAM network (trained with image-level labels only)")
    else:
        log("no pretrained weights: the backbone is trained from scratch")
    return net, False


def maskrcnn_input(data: Dataset, image_id: str) -> torch.Tensor:
    """An image as Mask R-CNN takes it: (3, H, W) float in [0, 1] (the model normalises it)."""
    return torch.from_numpy(data.load_image(image_id)).permute(2, 0, 1).float() / 255


class CocoInstances(TorchDataset):
    """Images and Mask R-CNN targets from a COCO instances JSON whose images are the dataset's
    (by :func:`irn_core.coco.image_key`). Random horizontal flip when ``train``."""

    def __init__(self, data: Dataset, coco_json: str | Path, train: bool, seed: int = 0):
        self.coco = load(coco_json)
        self.data, self.train, self.seed, self.epoch = data, train, seed, 0
        self.images = self.coco.dataset["images"]
        self.instances = len(self.coco.dataset["annotations"])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        info = self.images[i]
        img = maskrcnn_input(self.data, image_key(info["file_name"]))
        h, w = img.shape[-2:]
        anns = self.coco.imgToAnns[info["id"]]
        if anns:
            masks = np.stack([annotation_mask(self.coco, a) for a in anns])
        else:
            masks = np.zeros((0, h, w), bool)
        masks = torch.from_numpy(masks)
        labels = torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)
        if self.train and np.random.default_rng([self.seed, self.epoch, i]).random() < 0.5:
            img, masks = img.flip(-1), masks.flip(-1)
        return img, {"boxes": masks_to_boxes(masks), "labels": labels, "masks": masks.to(torch.uint8)}


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """(N, H, W) bool -> (N, 4) float (x0, y0, x1, y1), pixel edges (x1 = last column + 1)."""
    if masks.shape[0] == 0:
        return torch.zeros((0, 4))
    rows, cols = masks.any(2), masks.any(1)
    idx_h = torch.arange(masks.shape[1])
    idx_w = torch.arange(masks.shape[2])
    y0 = torch.where(rows, idx_h, masks.shape[1]).amin(1)
    y1 = torch.where(rows, idx_h, -1).amax(1) + 1
    x0 = torch.where(cols, idx_w, masks.shape[2]).amin(1)
    x1 = torch.where(cols, idx_w, -1).amax(1) + 1
    return torch.stack([x0, y0, x1, y1], 1).float()


def collate(batch):
    return tuple(zip(*batch))


def keep_valid_targets(targets: list[dict]) -> list[dict]:
    """Drop instances whose box is empty (e.g. a one-pixel sliver): Mask R-CNN rejects them."""
    out = []
    for t in targets:
        b = t["boxes"]
        ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
        out.append({k: v[ok] for k, v in t.items()})
    return out


def build_deeplab(backbone: ResNetBackbone, num_classes: int, frozen_bn: bool = False) -> DeepLabV3:
    """DeepLabV3 (ASPP head) on a stride-16 ResNet; ``num_classes`` includes background.
    ``frozen_bn`` (pretrained backbones): the backbone's BatchNorms are FrozenBatchNorm2d."""
    if frozen_bn:
        frozen_batchnorm(backbone)
    body = IntermediateLayerGetter(backbone, {"layer4": "out"})
    return DeepLabV3(body, DeepLabHead(backbone.channels[-1], num_classes))


@torch.no_grad()
def predict_segmentation(
    model: DeepLabV3, views: torch.Tensor | list[torch.Tensor], flip: bool = True, size: tuple[int, int] | None = None
) -> torch.Tensor:
    """Class probabilities (K, H, W) of one image: the mean over its normalised views (one (3, H, W)
    image, or its views at several scales, ``data.scaled_views``) and their flips, each
    upsampled bilinearly to ``size`` (default: the first view's)."""
    views = [views] if torch.is_tensor(views) else list(views)
    size = tuple(size or views[0].shape[-2:])
    total = 0
    for v in views:
        x = v[None]
        if flip:
            x = torch.cat([x, x.flip(-1)])
        out = F.interpolate(model(x)["out"], size, mode="bilinear", align_corners=False).softmax(1)
        total = total + ((out[0] + out[1].flip(-1)) / 2 if flip else out[0])
    return total / len(views)
