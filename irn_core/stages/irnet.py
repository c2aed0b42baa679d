"""Stages of METHOD.md 4 and the IRNet half of 5: train IRNet on the mined relations, and infer its
boundary map and displacement field for every image."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ..checkpoints import load_checkpoint
from ..data import ImageSet, LabelMapCrops
from ..datasets import stage_dataset, stage_ids
from ..device import resolve_device, to_device
from ..io import StageArrays
from ..models import IRNet, build_backbone, load_cam_backbone
from ..progress import Progress, log
from ..relations import irn_losses
from . import PerImage, Training

# what each runner reads (irn_core.config.rule_settings)
SETTINGS = {
    "train_irn": [
        "split:train",
        "mixed_precision",
        "train_processes",
        "cam.backbone",
        "irn.init",
        "irn.backbone_lr",
        "irn.optimizer",
        "irn.momentum",
        "irn.epochs",
        "irn.batch_size",
        "irn.lr",
        "irn.weight_decay",
        "irn.scale_range",
        "irn.crop_size",
        "irn.radius",
        "irn.pairs_at_border",
        "irn.mean_shift",
        "irn.seed",
        "cam.pretrained if irn.init == imagenet",
        # the public mean displacement is taken over the eval list's images
        "split:eval if irn.mean_shift == crops",
    ],
    "infer_irn": [
        "split:train",
        "split:eval",
        "cam.backbone",
        "irn.infer_pad_to",
        "irn.flip_aligned",
        "irn.infer_scales",
    ],
}


def build_irnet(cfg: dict, cam_model: str | None) -> IRNet:
    """IRNet on the CAM backbone's architecture, initialised per ``irn.init``: from the CAM
    network's weights (``cam_model``), or ImageNet's (``cam.pretrained``)."""
    arch, train_backbone = cfg["cam"]["backbone"], cfg["irn"]["backbone_lr"] > 0
    if cfg["irn"]["init"] == "imagenet":
        return IRNet(build_backbone(arch, cfg["cam"]["pretrained"]), train_backbone)
    if not cam_model:
        raise ValueError("irn.init 'cam' needs the trained CAM network (not made when cam.external is set)")
    return IRNet(load_cam_backbone(build_backbone(arch), cam_model), train_backbone)


def param_groups(net: IRNet, settings: dict) -> list[dict]:
    """The optimiser's groups: the boundary branch at ``irn.lr``, the displacement branch 10x
    faster (public setting), and a backbone that trains (``irn.backbone_lr`` > 0) at that multiple
    of ``irn.lr``."""
    edge, dp, backbone = net.trainable()
    groups = [{"params": edge, "lr": settings["lr"]}, {"params": dp, "lr": 10 * settings["lr"]}]
    if backbone:
        groups.append({"params": backbone, "lr": settings["backbone_lr"] * settings["lr"]})
    return groups


def train_irn(
    cfg: dict, relations_path: str, cam_model: str | None, manifests: list[str], model_out: str, ckpt_dir: str
) -> dict:
    """Train the boundary and displacement branches (and the backbone where ``irn.backbone_lr`` > 0)
    on the mined pairs (METHOD.md 4)."""
    settings = cfg["irn"]
    data = stage_dataset(cfg)
    ids = stage_ids(cfg, "train_list")
    labels = StageArrays(relations_path, "label")  # read per crop, not held
    inputs = [relations_path, *manifests] + ([cam_model] if settings["init"] == "cam" else [])
    run = Training("train_irn", cfg, "irn", inputs, ckpt_dir)
    net = run.to_device(build_irnet(cfg, cam_model))

    def step(model, batch, device):
        img, lab = batch
        edge, disp = model(img.to(device))
        return irn_losses(edge.float(), disp.float(), lab.to(device), settings["radius"], settings["pairs_at_border"])

    crops = LabelMapCrops(
        data, ids, labels, tuple(settings["scale_range"]), settings["crop_size"], seed=settings["seed"]
    )
    history = run.fit(net, param_groups(net, settings), crops, step)
    if settings["mean_shift"] == "crops":  # public: top-left crops of the eval list (its infer_list)
        shift = mean_displacement_crops(
            net, data, stage_ids(cfg, "eval_list"), settings["crop_size"], settings["batch_size"], run.device
        )
    else:
        shift = mean_displacement(net, data, ids, run.device, cfg["num_workers"])
    net.mean_shift.copy_(shift)
    log(f"train_irn: mean displacement (dy, dx) = {net.mean_shift.tolist()}")
    run.save(net, model_out, history)
    return {"history": history}


def _pad_right(img: torch.Tensor, pad_to: int | None) -> torch.Tensor:
    """Zero-pad (..., H, W) on the bottom and right: to a multiple of 16, or to ``pad_to`` x
    ``pad_to`` (the public 512; larger images to a multiple of 16 beyond it)."""
    h, w = img.shape[-2:]
    th, tw = h + (-h) % 16, w + (-w) % 16
    if pad_to:
        th, tw = max(th, pad_to), max(tw, pad_to)
    return F.pad(img, (0, tw - w, 0, th - h))


def _irn_views(
    net: IRNet, img: torch.Tensor, pad_to: int | None, flip_aligned: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Boundary logits (h4, w4) of the image and its flip, averaged, and the raw displacement field
    (2, h4, w4) of the unflipped image."""
    h4, w4 = (img.shape[-2] + 3) // 4, (img.shape[-1] + 3) // 4
    if flip_aligned:
        x = _pad_right(img, pad_to)[None]
        edge, disp = net(torch.cat([x, x.flip(-1)]))
        # flipping the second output back puts its padding on the right again, aligned with the first
        logits = (edge[0, 0] + edge[1, 0].flip(-1))[:h4, :w4] / 2
    else:
        x = _pad_right(torch.stack([img, img.flip(-1)]), pad_to)
        edge, disp = net(x)
        edge = edge[:, 0, :h4, :w4]
        logits = edge[0] / 2 + edge[1].flip(-1) / 2
    return logits, disp[0, :, :h4, :w4]


def rescale_logits(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(h, w) boundary logits of a rescaled image onto the (H, W) grid of the image's own: the
    largest logit under each cell where the grid is finer (a boundary anywhere in the cell counts),
    bilinear where it is coarser."""
    x = logits[None, None]
    if logits.shape[0] >= size[0] and logits.shape[1] >= size[1]:
        return F.adaptive_max_pool2d(x, size)[0, 0]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)[0, 0]


@torch.no_grad()
def irn_forward(
    net: IRNet,
    img: torch.Tensor,
    pad_to: int | None = None,
    flip_aligned: bool = True,
    scales: tuple[float, ...] | list[float] = (1.0,),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Boundary map (h4, w4) in [0, 1] from the image and its flip (logits averaged), and the
    displacement field (2, h4, w4) of the unflipped image, mean displacement removed.

    ``flip_aligned``: pad, then flip the padded image, so the flipped output maps back onto the
    image exactly. Off: the public order (flip the image, pad each view on the right, flip the
    cropped output back), which shifts the flipped view by (-W) mod 4 pixels.
    ``scales``: the boundary logits are the mean over the image resized by each factor (each put on
    the image's own stride-4 grid by ``rescale_logits``); the public code's is 1.0 alone. The
    displacement field is always the image's own (its vectors are in the image's pixels).
    """
    logits, disp = _irn_views(net, img, pad_to, flip_aligned)
    size = tuple(logits.shape)
    fused = []
    for s in scales:
        if s == 1.0:
            fused.append(logits)
            continue
        h, w = (max(1, round(n * s)) for n in img.shape[-2:])
        scaled = F.interpolate(img[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        fused.append(rescale_logits(_irn_views(net, scaled, pad_to, flip_aligned)[0], size))
    boundary = torch.sigmoid(torch.stack(fused).mean(0))
    return boundary, disp - net.mean_shift[:, None, None]


@torch.no_grad()
def mean_displacement(net: IRNet, data, ids, device, num_workers: int = 0) -> torch.Tensor:
    """Mean of the raw displacement field over the real pixels of the images: (2,)."""
    net.eval()
    total, count = torch.zeros(2, dtype=torch.float64, device=device), 0
    net.mean_shift.zero_()
    loader = DataLoader(ImageSet(data, ids), batch_size=None, num_workers=num_workers)
    for _, img in Progress(loader, "train_irn mean displacement", total=len(ids)):
        h4, w4 = (img.shape[-2] + 3) // 4, (img.shape[-1] + 3) // 4
        _, disp = net(_pad_right(img.to(device), None)[None])
        d = disp[0, :, :h4, :w4]
        total += d.double().sum((1, 2))
        count += h4 * w4
    return (total / count).float()


def top_left_crop(img: torch.Tensor, crop: int) -> torch.Tensor:
    """(3, H, W) -> (3, crop, crop): the image's top-left corner on a zero canvas (the public
    ``top_left_crop`` of the normalised image)."""
    out = img.new_zeros((img.shape[0], crop, crop))
    h, w = min(crop, img.shape[1]), min(crop, img.shape[2])
    out[:, :h, :w] = img[:, :h, :w]
    return out


@torch.no_grad()
def mean_displacement_crops(net: IRNet, data, ids, crop: int, batch_size: int, device) -> torch.Tensor:
    """The public mean displacement: the mean, over full batches (the last partial one dropped),
    of each batch's mean displacement over the top-left ``crop`` x ``crop`` crops of the images,
    zero padding included: (2,)."""
    net.eval()
    net.mean_shift.zero_()
    means = []
    for start in Progress(range(0, len(ids) - batch_size + 1, batch_size), "train_irn mean displacement (crops)"):
        batch = torch.stack([top_left_crop(img, crop) for _, img in ImageSet(data, ids[start : start + batch_size])])
        _, disp = net(batch.to(device))
        means.append(disp.float().mean((0, 2, 3)))
    if not means:
        raise ValueError(f"irn.mean_shift 'crops': fewer images ({len(ids)}) than irn.batch_size ({batch_size})")
    return torch.stack(means).mean(0)


def load_irnet(cfg: dict, model_path: str, device) -> IRNet:
    net = IRNet(build_backbone(cfg["cam"]["backbone"]))
    net.load_state_dict(load_checkpoint(model_path)["model"])
    return to_device(net, cfg, device).eval()


@torch.no_grad()
def infer_irn(cfg: dict, model_path: str, out_path: str, shard: tuple[int, int] = (0, 1)) -> None:
    """Boundary map and displacement field of every train/eval image (of one shard), to HDF5."""
    device = resolve_device(cfg["device"])
    net = load_irnet(cfg, model_path, device)
    with PerImage("infer_irn", cfg, ("train", "eval"), {"irn": out_path}, {"checkpoint": model_path}, shard) as stage:
        loader = DataLoader(ImageSet(stage.data, stage.ids), batch_size=None, num_workers=cfg["num_workers"])
        irn = cfg["irn"]
        for image_id, img in stage.progress(loader):
            boundary, disp = irn_forward(
                net, img.to(device), irn["infer_pad_to"], irn["flip_aligned"], irn["infer_scales"]
            )
            stage.write(
                "irn",
                image_id,
                {
                    "boundary": boundary.float().cpu().numpy(),
                    "disp": disp.float().cpu().numpy(),
                    "image_size": np.array(img.shape[-2:]),
                },
            )
