"""Stages of METHOD.md 1-2: train the CAM network, make (or import) the CAMs of every image, and
evaluate them."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader

from .. import cam as camlib
from ..checkpoints import load_checkpoint
from ..data import ClassificationCrops, ImageSet
from ..datasets import split_with_labels, stage_dataset, stage_ids
from ..device import resolve_device, to_device
from ..evaluate import confusion, iou_from_confusion
from ..io import INFO, open_stage, write_json
from ..models import CAMNet, build_backbone
from ..progress import Progress, log
from ..public import cam_problems, read_public_cam
from . import PerImage, Training

# what each runner reads (irn_core.config.rule_settings)
SETTINGS = {
    "train_cam": [
        "split:train",
        "mixed_precision",
        "train_processes",
        "cam.backbone",
        "cam.pretrained",
        "cam.optimizer",
        "cam.momentum",
        "cam.epochs",
        "cam.batch_size",
        "cam.lr",
        "cam.weight_decay",
        "cam.resize_long",
        "cam.crop_size",
        "cam.seed",
    ],
    "make_cam": ["split:train", "split:eval", "cam.backbone", "cam.scales"],
    "import_cam": ["split:train", "split:eval", "cam.external"],
    "eval_cam": ["split:eval", "cam.eval_threshold", "cam.eval_sweep"],
}


def build_cam_net(cfg: dict) -> CAMNet:
    cam = cfg["cam"]
    backbone = build_backbone(cam["backbone"], cam["pretrained"])
    return CAMNet(backbone, len(cfg["dataset"]["classes"]), pretrained=bool(cam["pretrained"]))


def train_cam(cfg: dict, train_manifest: str, model_out: str, ckpt_dir: str) -> dict:
    """Train the classifier (multi-label soft margin, SGD + poly decay, 10x lr on the head)."""
    settings = cfg["cam"]
    data = stage_dataset(cfg)
    ids, empty = split_with_labels(data, stage_ids(cfg, "train_list"))
    if empty:
        log(
            f"train_cam: skipping {len(empty)} image(s) without a foreground label: {', '.join(empty[:10])}"
            + (" ..." if len(empty) > 10 else "")
        )
    if not ids:
        raise ValueError("train_cam: no training image has a foreground label")
    if not settings["pretrained"]:
        log("train_cam: no pretrained weights configured; training the backbone from scratch (BatchNorm trains)")
    run = Training("train_cam", cfg, "cam", [train_manifest], ckpt_dir)
    net = run.to_device(build_cam_net(cfg))
    backbone_params, head_params = net.param_groups()

    def step(model, batch, device):
        img, label = (t.to(device) for t in batch)
        logits = model(img).float()
        exact = ((logits > 0) == (label > 0.5)).all(1).float().mean()
        return {"total": torch.nn.functional.multilabel_soft_margin_loss(logits, label), "exact_match": exact}

    crops = ClassificationCrops(data, ids, tuple(settings["resize_long"]), settings["crop_size"], seed=settings["seed"])
    history = run.fit(
        net,
        [{"params": backbone_params, "lr": settings["lr"]}, {"params": head_params, "lr": 10 * settings["lr"]}],
        crops,
        step,
    )
    run.save(net, model_out, history, arch=settings["backbone"])
    return {"history": history}


def load_cam_net(cfg: dict, model_path: str, device: torch.device) -> CAMNet:
    """The trained classifier for inference (its weights replace any initialisation)."""
    net = CAMNet(build_backbone(cfg["cam"]["backbone"]), len(cfg["dataset"]["classes"]), pretrained=False)
    net.load_state_dict(load_checkpoint(model_path)["model"])
    return to_device(net, cfg, device).eval()


@torch.no_grad()
def make_cam(cfg: dict, model_path: str, out_path: str, shard: tuple[int, int] = (0, 1)) -> None:
    """Multi-scale + flip CAMs of every train/eval image (of one shard), one HDF5 group per image:
    the class maps at each inference scale (``cam_raw_<i>``, stride 16 of that scale), from which
    readers merge the CAMs at stride 4 and at full resolution (cam.stage_cams): a few KB per
    image instead of a float map of the image's size per class."""
    device = resolve_device(cfg["device"])
    net = load_cam_net(cfg, model_path, device)
    with PerImage("make_cam", cfg, ("train", "eval"), {"cams": out_path}, {"checkpoint": model_path}, shard) as stage:
        loader = DataLoader(
            ImageSet(stage.data, stage.ids, scales=cfg["cam"]["scales"]),
            batch_size=None,
            num_workers=cfg["num_workers"],
        )
        for image_id, views, size in stage.progress(loader):
            keys = np.nonzero(stage.data.labels(image_id))[0]
            size = tuple(int(v) for v in size)
            raw = camlib.multiscale_raw(net.cam, [v.to(device) for v in views], torch.as_tensor(keys, device=device))
            arrays = {f"cam_raw_{i}": r.float().cpu().numpy() for i, r in enumerate(raw)}
            stage.write(
                "cams",
                image_id,
                {"keys": keys.astype(np.int64), "image_size": np.array(size), **arrays},
                compression="gzip",
                shuffle=True,
                info=dict.fromkeys(arrays, INFO["cam_raw"]),
            )


def eval_cam(cfg: dict, cams_path: str, out_json: str) -> dict:
    """mIoU of CAM labels against the semantic ground truth over a sweep of background thresholds."""
    data = stage_dataset(cfg)
    ids = stage_ids(cfg, "eval_list")
    thresholds = sorted(set(cfg["cam"]["eval_sweep"]) | {cfg["cam"]["eval_threshold"]})
    n = len(cfg["dataset"]["classes"]) + 1
    confs = np.zeros((len(thresholds), n, n), np.int64)
    with open_stage(cams_path) as f:
        for image_id in Progress(ids, "eval_cam"):
            if image_id not in f:
                raise KeyError(f"{cams_path}: no CAMs for eval image '{image_id}'")
            g = f[image_id]
            keys, cams = camlib.stage_cams(g, 1)
            gt = data.semantic_gt(image_id)
            for t, thr in enumerate(thresholds):
                confs[t] += confusion(camlib.cam_to_label(cams, keys, thr), gt, n)
    per_thr = {f"{t:.2f}": float(np.nanmean(iou_from_confusion(c))) for t, c in zip(thresholds, confs)}
    best = max(per_thr, key=per_thr.get)
    at = thresholds.index(cfg["cam"]["eval_threshold"])
    result = {
        "miou": per_thr[f"{cfg['cam']['eval_threshold']:.2f}"],
        "threshold": cfg["cam"]["eval_threshold"],
        "best_miou": per_thr[best],
        "best_threshold": float(best),
        "sweep": per_thr,
        "per_class_iou": [None if np.isnan(x) else float(x) for x in iou_from_confusion(confs[at])],
        "classes": ["background", *cfg["dataset"]["classes"]],
        "images": len(ids),
    }
    write_json(out_json, result)
    log(
        f"eval_cam: mIoU {result['miou']:.4f} at {result['threshold']}, best {result['best_miou']:.4f} at "
        f"{result['best_threshold']}"
    )
    return result


def _manifest_records(manifests: list[str]) -> dict[str, dict]:
    """image id -> {size, labels} over the given split manifests (first occurrence wins)."""
    records: dict[str, dict] = {}
    for path in manifests:
        with open(path) as fh:
            for image_id, rec in json.load(fh)["images"].items():
                records.setdefault(image_id, rec)
    return records


def _external_cams(source: Path, image_id: str):
    """(where, keys, cam_s4, cam_full, arrays to store) of one image from a public .npy folder or
    our HDF5 (per-scale maps as make_cam keeps them, or merged maps)."""
    if source.is_dir():
        path = source / f"{image_id}.npy"
        if not path.is_file():
            raise ValueError(f"{path}: CAMs of image '{image_id}' not found")
        arrays = read_public_cam(path)
        return str(path), arrays["keys"], arrays["cam"], arrays["high_res"], None
    with h5py.File(source, "r") as f:
        if image_id not in f:
            raise ValueError(f"{source}: no group for image '{image_id}'")
        g = f[image_id]
        raw = "cam_raw_0" in g
        need = ("keys", "image_size") if raw else ("keys", "cam_s4", "cam_full")
        missing = [k for k in need if k not in g]
        if missing:
            raise ValueError(f"{source}: group '{image_id}' lacks {', '.join(missing)}")
        keys, s4 = camlib.stage_cams(g, 4)
        full = camlib.stage_cams(g, 1)[1]
        stored = {name: g[name][()] for name in g if name.startswith("cam_raw_") or name == "image_size"}
        return f"{source}[{image_id}]", keys, s4, full, stored if raw else None


def import_cam(cfg: dict, manifests: list[str], out_path: str) -> dict:
    """CAMs computed elsewhere (``cam.external``: a folder of public ``<id>.npy`` files or an HDF5
    file in our layout) -> the cams stage file, after checking every image against the dataset
    (shapes vs image size, keys vs image labels, values in [0, 1]). Every problem is reported at
    once; any problem discards the whole file."""
    src = Path(cfg["cam"]["external"]).expanduser()
    if not src.exists():
        raise FileNotFoundError(
            f"config key cam.external: '{src}' does not exist (a folder of <id>.npy files in the "
            f"public make_cam layout, or an HDF5 file of our cams layout)"
        )
    records = _manifest_records(manifests)
    n_classes = len(cfg["dataset"]["classes"])
    problems = []
    # written as checked (one image in memory at a time)
    with PerImage("import_cam", cfg, ("train", "eval"), {"cams": out_path}, extra={"source": str(src)}) as stage:
        for image_id in stage.progress():
            rec = records[image_id]
            try:
                where, keys, s4, full, stored = _external_cams(src, image_id)
            except (ValueError, OSError) as err:
                problems.append(str(err))
                continue
            keys, s4, full = np.asarray(keys), np.asarray(s4), np.asarray(full)
            found = cam_problems(where, image_id, keys, s4, full, tuple(rec["size"]), rec["labels"], n_classes)
            problems += found
            if found or problems:
                continue
            if stored is not None and (np.diff(keys) > 0).all():  # per-scale maps of make_cam, kept so
                arrays = {"keys": keys.astype(np.int64), **stored}
                info = {name: INFO["cam_raw"] for name in stored if name != "image_size"}
                stage.write("cams", image_id, arrays, compression="gzip", shuffle=True, info=info)
            else:  # the maps in the order of the sorted keys, as make_cam writes them
                order = np.argsort(keys, kind="stable")
                stage.write(
                    "cams",
                    image_id,
                    {
                        "keys": keys.astype(np.int64)[order],
                        "cam_s4": s4.astype(np.float32)[order],
                        "cam_full": full.astype(np.float32)[order],
                    },
                )
        if problems:
            shown = "\n  ".join(problems[:50])
            more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
            raise ValueError(
                f"external CAMs {src}: {len(problems)} problem(s) in {len(stage.ids)} images\n  {shown}{more}"
            )
    return {"images": len(stage.ids)}
