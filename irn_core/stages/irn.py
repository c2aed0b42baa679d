"""Stages of METHOD.md 3-4 and the IRNet half of 5: mine relations, train IRNet, infer IRNet."""

from __future__ import annotations

import contextlib
import multiprocessing
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ..data import ImageSet, RelationSet, epoch_loader
from ..config import without_execution
from ..digest import input_digest
from ..io import atomic_h5, open_stage, provenance, write_group
from ..models import IRNet, build_backbone, load_cam_backbone
from ..progress import Progress, log
from ..relations import irn_losses, relation_labels
from ..train import Checkpointer, autocast_dtype, checkpoint_tag, fit, place, resolve_device
from . import dataset, split_ids, union_ids


def _relations_job(args):
    voc, image_id, cams, keys, (fg, bg, crf) = args
    return image_id, relation_labels(voc.load_image(image_id), cams, keys, fg, bg, crf)


def mine_relations(cfg: dict, cams_path: str, out_path: str, workers: int = 1) -> dict:
    """Confident fg/bg label maps (CRF-refined) of every training image, to HDF5."""
    r = cfg["relations"]
    voc = dataset(cfg)
    ids = split_ids(cfg, "train_list")
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
            write_group(out, image_id, {"label": lab}, compression="gzip")
    frac = counts / counts.sum()
    log(f"mine_relations: background {frac[0]:.1%}, foreground {frac[1]:.1%}, unsure {frac[2]:.1%} of pixels")
    return {"fractions": frac.tolist()}


def build_irnet(cfg: dict, cam_model: str | None) -> IRNet:
    """IRNet on the CAM backbone's architecture, initialised per ``irn.init`` (from the CAM
    network's weights, or ImageNet's); with ``cam_model`` None, uninitialised (for loading)."""
    arch = cfg["cam"]["backbone"]
    if cam_model is not None and cfg["irn"]["init"] == "imagenet":
        backbone = build_backbone(arch, cfg["cam"]["pretrained"])
    else:
        backbone = build_backbone(arch)
        if cam_model is not None:
            load_cam_backbone(backbone, cam_model)
    return IRNet(backbone)


def train_irn(cfg: dict, relations_path: str, cam_model: str, train_manifest: str, model_out: str,
              ckpt_dir: str) -> dict:
    """Train the boundary and displacement branches on the mined pairs (METHOD.md 4)."""
    c = cfg["irn"]
    device = resolve_device(cfg["device"])
    voc = dataset(cfg)
    ids = split_ids(cfg, "train_list")
    with open_stage(relations_path) as f:
        labels = {i: f[i]["label"][()] for i in ids}
    torch.manual_seed(c["seed"])
    net = place(build_irnet(cfg, cam_model), cfg, device)
    data = RelationSet(voc, ids, labels, tuple(c["scale_range"]), c["crop_size"], seed=c["seed"])
    edge_params, dp_params = net.trainable()

    def loader_fn(epoch):
        return epoch_loader(data, epoch, c["batch_size"], c["seed"], cfg["num_workers"])

    def step_fn(batch):
        img, lab = batch
        edge, disp = net(img.to(device))
        return irn_losses(edge.float(), disp.float(), lab.to(device), c["radius"])

    inputs = [relations_path, train_manifest] + ([cam_model] if c["init"] == "cam" else [])
    ckpt = Checkpointer(ckpt_dir, tag=checkpoint_tag(without_execution(cfg), inputs))
    t0 = time.perf_counter()
    # the displacement branch learns 10x faster (public setting)
    history = fit(net, [{"params": edge_params, "lr": c["lr"]}, {"params": dp_params, "lr": 10 * c["lr"]}],
                  loader_fn, step_fn, c, ckpt, "train_irn", autocast_dtype(cfg, device), device.type)
    net.mean_shift.copy_(mean_displacement(net, voc, ids, device, cfg["num_workers"]))
    log(f"train_irn: mean displacement (dy, dx) = {net.mean_shift.tolist()}")
    ckpt.finish({"model": net.state_dict(), "history": history, "train_seconds": time.perf_counter() - t0},
                model_out)
    return {"history": history}


def _pad16(img: torch.Tensor) -> torch.Tensor:
    h, w = img.shape[-2:]
    return F.pad(img, (0, (-w) % 16, 0, (-h) % 16))


@torch.no_grad()
def irn_forward(net: IRNet, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Boundary map (h4, w4) in [0, 1] from the image and its flip (logits averaged), and the
    displacement field (2, h4, w4) of the unflipped image, mean displacement removed."""
    h4, w4 = (img.shape[-2] + 3) // 4, (img.shape[-1] + 3) // 4
    x = _pad16(img)[None]
    edge, disp = net(torch.cat([x, x.flip(-1)]))
    # flipping the second output back puts its padding on the right again, aligned with the first
    boundary = torch.sigmoid((edge[0, 0] + edge[1, 0].flip(-1))[:h4, :w4] / 2)
    return boundary, disp[0, :, :h4, :w4] - net.mean_shift[:, None, None]


@torch.no_grad()
def mean_displacement(net: IRNet, voc, ids, device, num_workers: int = 0) -> torch.Tensor:
    """Mean of the raw displacement field over the training images: (2,)."""
    net.eval()
    total, count = torch.zeros(2, dtype=torch.float64, device=device), 0
    net.mean_shift.zero_()
    loader = DataLoader(ImageSet(voc, ids), batch_size=None, num_workers=num_workers)
    for _, img in Progress(loader, "train_irn mean displacement", total=len(ids)):
        h4, w4 = (img.shape[-2] + 3) // 4, (img.shape[-1] + 3) // 4
        _, disp = net(_pad16(img.to(device))[None])
        d = disp[0, :, :h4, :w4]
        total += d.double().sum((1, 2))
        count += h4 * w4
    return (total / count).float()


def load_irnet(cfg: dict, model_path: str, device) -> IRNet:
    net = IRNet(build_backbone(cfg["cam"]["backbone"]))
    state = torch.load(model_path, map_location="cpu", weights_only=False)
    net.load_state_dict(state["model"])
    return place(net, cfg, device).eval()


def infer_irn(cfg: dict, model_path: str, out_path: str) -> None:
    """Boundary map and displacement field of every train/eval image, to HDF5."""
    device = resolve_device(cfg["device"])
    net = load_irnet(cfg, model_path, device)
    voc = dataset(cfg)
    ids = union_ids(split_ids(cfg, "train_list"), split_ids(cfg, "eval_list"))
    attrs = provenance("infer_irn", cfg["run_name"], without_execution(cfg), checkpoint_digest=input_digest(model_path))
    loader = DataLoader(ImageSet(voc, ids), batch_size=None, num_workers=cfg["num_workers"])
    with atomic_h5(out_path, attrs) as f:
        for image_id, img in Progress(loader, "infer_irn", total=len(ids)):
            boundary, disp = irn_forward(net, img.to(device))
            write_group(f, image_id, {"boundary": boundary.float().cpu().numpy(), "disp": disp.float().cpu().numpy(),
                                      "image_size": np.array(img.shape[-2:])})
