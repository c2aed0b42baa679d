"""Stages of METHOD.md 3-4 and the IRNet half of 5: mine relations, train IRNet, infer IRNet."""

from __future__ import annotations

import contextlib
import multiprocessing
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ..config import without_execution
from ..data import ImageSet, RelationSet, epoch_loader
from ..digest import input_digest
from ..io import INFO, atomic_h5, open_stage, provenance, write_group
from ..models import IRNet, build_backbone, load_cam_backbone
from ..progress import Progress, log
from ..relations import irn_losses, relation_labels
from ..shards import shard_ids
from ..device import autocast_dtype, place, resolve_device
from ..train import Checkpointer, checkpoint_tag, fit
from ..datasets import open_dataset, split_ids, union_ids


def _relations_job(args):
    voc, image_id, cams, keys, (fg, bg, crf) = args
    return image_id, relation_labels(voc.load_image(image_id), cams, keys, fg, bg, crf)


def mine_relations(cfg: dict, cams_path: str, out_path: str, workers: int = 1, shard: tuple[int, int] = (0, 1)) -> dict:
    """Confident fg/bg label maps (CRF-refined) of every training image (of one shard), to HDF5."""
    r = cfg["relations"]
    voc = open_dataset(cfg["dataset"])
    ids = shard_ids(split_ids(cfg["dataset"], "train_list"), *shard)
    attrs = provenance("mine_relations", cfg["run_name"], without_execution(cfg), cams_digest=input_digest(cams_path))
    counts = np.zeros(3, np.int64)  # background, foreground, unsure pixels
    settings = (r["fg_threshold"], r["bg_threshold"], r["crf"])
    # the dense CRF is single-threaded C++: one image per worker process, each with one torch
    # thread (workers x 1 = the rule's threads; fork: the children must not re-run the calling
    # script), results in order
    parallel = workers > 1 and "fork" in multiprocessing.get_all_start_methods()
    with open_stage(cams_path) as cams, atomic_h5(out_path, attrs) as out, \
            (multiprocessing.get_context("fork").Pool(workers, torch.set_num_threads, (1,)) if parallel
             else contextlib.nullcontext()) as pool:
        jobs = ((voc, image_id, cams[image_id]["cam_full"][()], cams[image_id]["keys"][()], settings)
                for image_id in ids)
        results = pool.imap(_relations_job, jobs, chunksize=4) if parallel else map(_relations_job, jobs)
        for image_id, lab in Progress(results, "mine_relations", total=len(ids)):
            counts += [(lab == 0).sum(), ((lab > 0) & (lab < 255)).sum(), (lab == 255).sum()]
            write_group(out, image_id, {"label": lab}, compression="gzip", info={"label": INFO["relation_label"]})
    frac = counts / counts.sum()
    log(f"mine_relations: background {frac[0]:.1%}, foreground {frac[1]:.1%}, unsure {frac[2]:.1%} of pixels")
    return {"fractions": frac.tolist()}


def build_irnet(cfg: dict, cam_model: str | None) -> IRNet:
    """IRNet on the CAM backbone's architecture, initialised per ``irn.init``: from the CAM
    network's weights (``cam_model``), or ImageNet's (``cam.pretrained``)."""
    arch = cfg["cam"]["backbone"]
    if cfg["irn"]["init"] == "imagenet":
        return IRNet(build_backbone(arch, cfg["cam"]["pretrained"]))
    if not cam_model:
        raise ValueError("irn.init 'cam' needs the trained CAM network (not made when cam.external is set)")
    return IRNet(load_cam_backbone(build_backbone(arch), cam_model))


def train_irn(cfg: dict, relations_path: str, cam_model: str, manifests: list[str], model_out: str,
              ckpt_dir: str) -> dict:
    """Train the boundary and displacement branches on the mined pairs (METHOD.md 4)."""
    c = cfg["irn"]
    device = resolve_device(cfg["device"])
    voc = open_dataset(cfg["dataset"])
    ids = split_ids(cfg["dataset"], "train_list")
    with open_stage(relations_path) as f:
        labels = {i: f[i]["label"][()] for i in ids}
    torch.manual_seed(c["seed"])
    net = place(build_irnet(cfg, cam_model), cfg, device)
    data = RelationSet(voc, ids, labels, tuple(c["scale_range"]), c["crop_size"], seed=c["seed"])
    edge_params, dp_params = net.trainable()

    def loader_fn(epoch):
        return epoch_loader(data, epoch, c["batch_size"], c["seed"], cfg["num_workers"])

    def step_fn(model, batch):
        img, lab = batch
        edge, disp = model(img.to(device))
        return irn_losses(edge.float(), disp.float(), lab.to(device), c["radius"], c["pairs_at_border"])

    inputs = [relations_path, *manifests] + ([cam_model] if c["init"] == "cam" else [])
    ckpt = Checkpointer(ckpt_dir, tag=checkpoint_tag(without_execution(cfg), inputs))
    t0 = time.perf_counter()
    # the displacement branch learns 10x faster (public setting)
    history = fit(net, [{"params": edge_params, "lr": c["lr"]}, {"params": dp_params, "lr": 10 * c["lr"]}],
                  loader_fn, step_fn, c, ckpt, "train_irn", autocast_dtype(cfg, device), device.type)
    if c["mean_shift"] == "crops":  # public: top-left crops of the eval list (its infer_list)
        shift = mean_displacement_crops(net, voc, split_ids(cfg["dataset"], "eval_list"), c["crop_size"], c["batch_size"], device)
    else:
        shift = mean_displacement(net, voc, ids, device, cfg["num_workers"])
    net.mean_shift.copy_(shift)
    log(f"train_irn: mean displacement (dy, dx) = {net.mean_shift.tolist()}")
    ckpt.finish({"model": net.state_dict(), "history": history, "train_seconds": time.perf_counter() - t0},
                model_out)
    return {"history": history}


def _pad_right(img: torch.Tensor, pad_to: int | None) -> torch.Tensor:
    """Zero-pad (..., H, W) on the bottom and right: to a multiple of 16, or to ``pad_to`` x
    ``pad_to`` (the public 512; larger images to a multiple of 16 beyond it)."""
    h, w = img.shape[-2:]
    th, tw = h + (-h) % 16, w + (-w) % 16
    if pad_to:
        th, tw = max(th, pad_to), max(tw, pad_to)
    return F.pad(img, (0, tw - w, 0, th - h))


@torch.no_grad()
def irn_forward(net: IRNet, img: torch.Tensor, pad_to: int | None = None,
                flip_aligned: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Boundary map (h4, w4) in [0, 1] from the image and its flip (logits averaged), and the
    displacement field (2, h4, w4) of the unflipped image, mean displacement removed.

    ``flip_aligned``: pad, then flip the padded image, so the flipped output maps back onto the
    image exactly. Off: the public order (flip the image, pad each view on the right, flip the
    cropped output back), which shifts the flipped view by (-W) mod 4 pixels.
    """
    h4, w4 = (img.shape[-2] + 3) // 4, (img.shape[-1] + 3) // 4
    if flip_aligned:
        x = _pad_right(img, pad_to)[None]
        edge, disp = net(torch.cat([x, x.flip(-1)]))
        # flipping the second output back puts its padding on the right again, aligned with the first
        boundary = torch.sigmoid((edge[0, 0] + edge[1, 0].flip(-1))[:h4, :w4] / 2)
    else:
        x = _pad_right(torch.stack([img, img.flip(-1)]), pad_to)
        edge, disp = net(x)
        edge = edge[:, 0, :h4, :w4]
        boundary = torch.sigmoid(edge[0] / 2 + edge[1].flip(-1) / 2)
    return boundary, disp[0, :, :h4, :w4] - net.mean_shift[:, None, None]


@torch.no_grad()
def mean_displacement(net: IRNet, voc, ids, device, num_workers: int = 0) -> torch.Tensor:
    """Mean of the raw displacement field over the real pixels of the images: (2,)."""
    net.eval()
    total, count = torch.zeros(2, dtype=torch.float64, device=device), 0
    net.mean_shift.zero_()
    loader = DataLoader(ImageSet(voc, ids), batch_size=None, num_workers=num_workers)
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
def mean_displacement_crops(net: IRNet, voc, ids, crop: int, batch_size: int, device) -> torch.Tensor:
    """The public mean displacement: the mean, over full batches (the last partial one dropped),
    of each batch's mean displacement over the top-left ``crop`` x ``crop`` crops of the images,
    zero padding included: (2,)."""
    net.eval()
    net.mean_shift.zero_()
    means = []
    for start in Progress(range(0, len(ids) - batch_size + 1, batch_size), "train_irn mean displacement (crops)"):
        batch = torch.stack([top_left_crop(img, crop) for _, img in ImageSet(voc, ids[start: start + batch_size])])
        _, disp = net(batch.to(device))
        means.append(disp.float().mean((0, 2, 3)))
    if not means:
        raise ValueError(f"irn.mean_shift 'crops': fewer images ({len(ids)}) than irn.batch_size ({batch_size})")
    return torch.stack(means).mean(0)


def load_irnet(cfg: dict, model_path: str, device) -> IRNet:
    net = IRNet(build_backbone(cfg["cam"]["backbone"]))
    state = torch.load(model_path, map_location="cpu", weights_only=False)
    net.load_state_dict(state["model"])
    return place(net, cfg, device).eval()


def infer_irn(cfg: dict, model_path: str, out_path: str, shard: tuple[int, int] = (0, 1)) -> None:
    """Boundary map and displacement field of every train/eval image (of one shard), to HDF5."""
    device = resolve_device(cfg["device"])
    net = load_irnet(cfg, model_path, device)
    voc = open_dataset(cfg["dataset"])
    ids = shard_ids(union_ids(split_ids(cfg["dataset"], "train_list"), split_ids(cfg["dataset"], "eval_list")), *shard)
    attrs = provenance("infer_irn", cfg["run_name"], without_execution(cfg), checkpoint_digest=input_digest(model_path))
    loader = DataLoader(ImageSet(voc, ids), batch_size=None, num_workers=cfg["num_workers"])
    with atomic_h5(out_path, attrs) as f:
        for image_id, img in Progress(loader, "infer_irn", total=len(ids)):
            boundary, disp = irn_forward(net, img.to(device), cfg["irn"]["infer_pad_to"], cfg["irn"]["flip_aligned"])
            write_group(f, image_id, {"boundary": boundary.float().cpu().numpy(), "disp": disp.float().cpu().numpy(),
                                      "image_size": np.array(img.shape[-2:])})
