"""Pictures of what every stage did: the per-image panels of ``irn show`` and the figures of the
Snakemake report (CAM threshold sweep, loss curves, wall times, per-class tables)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .cam import stage_cams
from .datasets import IGNORE, open_dataset
from .layout import GT_COCO, MODELS, PREDICTIONS, STAGE_FILES
from .voc import voc_palette

PANEL_FILES = ("cams", "relations", "irn", "sem", "ins")  # the stage files the panels draw


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def palette_image(label: np.ndarray) -> np.ndarray:
    """(H, W) index map -> (H, W, 3) uint8 in the VOC colours (255 = void)."""
    return voc_palette()[label.astype(np.int64).clip(0, 255)]


def instance_colours(ids: np.ndarray) -> np.ndarray:
    """(H, W) instance ids (0 = none) -> (H, W, 3) uint8, one fixed colour per id."""
    rng = np.random.default_rng(0)
    colours = np.concatenate([[[0, 0, 0]], rng.integers(40, 256, (max(int(ids.max()), 0) + 1, 3))]).astype(np.uint8)
    return colours[ids.astype(np.int64)]


def blend(image: np.ndarray, overlay: np.ndarray, alpha: float = 0.5, mask: np.ndarray | None = None) -> np.ndarray:
    out = image.astype(np.float32)
    mix = (1 - alpha) * out + alpha * overlay.astype(np.float32)
    out = mix if mask is None else np.where(mask[..., None], mix, out)
    return out.clip(0, 255).astype(np.uint8)


def heat(image: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """A [0, 1] map as a jet heat map over the image."""
    plt = _pyplot()
    return blend(image, (plt.get_cmap("jet")(cam.clip(0, 1))[..., :3] * 255), 0.5)


def displacement_hsv(disp: np.ndarray) -> np.ndarray:
    """(2, h, w) displacement (dy, dx): direction as hue, magnitude (over its maximum) as value."""
    from matplotlib.colors import hsv_to_rgb

    dy, dx = disp
    hue = (np.arctan2(dy, dx) / (2 * np.pi)) % 1.0
    mag = np.hypot(dy, dx)
    val = mag / max(float(mag.max()), 1e-6)
    return (hsv_to_rgb(np.stack([hue, np.ones_like(hue), val], -1)) * 255).astype(np.uint8)


def upsample(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest upsampling of a stride-4 map (h4, w4, ...) to the image size."""
    ys = np.minimum(np.arange(size[0]) // 4, arr.shape[0] - 1)
    xs = np.minimum(np.arange(size[1]) // 4, arr.shape[1] - 1)
    return arr[np.ix_(ys, xs)]


def _run_settings(files: dict[str, Path]) -> dict:
    """The settings recorded in a run's stage files (dataset root and classes, label settings)."""
    from .io import open_stage

    merged: dict = {}
    for path in files.values():
        if path.is_file():
            with open_stage(path) as f:
                cfg = json.loads(f.attrs.get("config_json", "{}"))
            for section, values in cfg.items():
                if isinstance(values, dict):
                    merged.setdefault(section, {}).update(values)
    return merged


def irn_maps(
    model_path: str | Path, image: np.ndarray, settings: dict | None = None, channels_last: bool = True
) -> dict[str, np.ndarray]:
    """Boundary map and displacement field of one (H, W, 3) uint8 image from the trained IRNet, as
    infer_irn makes them (its stage file is temporary: removed once the walk is made). ``settings``:
    the ``irn`` section for ``infer_pad_to``, ``flip_aligned`` and ``infer_scales`` (the schema's defaults without);
    ``channels_last``: the layout infer_irn ran in (another gives the same maps up to float rounding)."""
    import torch

    from .checkpoints import load_checkpoint
    from .data import normalise
    from .stages.irnet import irn_forward, load_irnet

    backbone = load_checkpoint(model_path)["settings"]["cam"]["backbone"]
    net = load_irnet({"cam": {"backbone": backbone}, "channels_last": channels_last}, model_path, torch.device("cpu"))
    s = {"infer_pad_to": None, "flip_aligned": True, "infer_scales": [1.0], **(settings or {})}
    boundary, disp = irn_forward(
        net, torch.from_numpy(normalise(image)), s["infer_pad_to"], s["flip_aligned"], s["infer_scales"]
    )
    return {"boundary": boundary.numpy(), "disp": disp.numpy()}


def _irn_settings(walk: Path) -> dict | None:
    """The ``irn`` settings IRNet's maps were made with, as the walk file records them."""
    from .io import open_stage

    if not walk.is_file():
        return None
    with open_stage(walk) as f:
        return json.loads(f.attrs.get("irn_config_json", "{}")).get("irn")


def _read(files: dict, key: str, image_id: str) -> dict | None:
    """The arrays of one image in one stage file, or None when the stage has not run on it."""
    from .io import open_stage, read_group

    if key not in files:
        return None
    with open_stage(files[key]) as f:
        return read_group(f, image_id) if image_id in f else None


def image_panels(
    run: str | Path, image_id: str, files: dict[str, str] | None = None
) -> list[tuple[str, np.ndarray | str]]:
    """(title, RGB image or a note) per stage for one image of a run folder (results/<run_name>;
    a relative dataset root is taken from the folder holding results/). ``files``: the stage files
    by name (irn_core.layout.STAGE_FILES), by default those of the run folder; without the irn
    file (temporary), the boundary and displacement panels come from the IRNet model (``irn_model``
    in ``files``, by default the run's)."""
    import torch

    from .instances import instance_map

    run = Path(run)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: run folder not found (expected results/<run_name>)")
    given = files or {k: run / STAGE_FILES[k] for k in PANEL_FILES}
    files = {k: Path(given[k]) for k in PANEL_FILES if k in given and Path(given[k]).is_file()}
    cfg = _run_settings(files)
    if "dataset" not in cfg:
        raise FileNotFoundError(f"{run}: no stage file with dataset settings (run make_cam first)")
    classes = list(cfg["dataset"]["classes"])
    root = Path(cfg["dataset"]["root"]).expanduser()
    if not root.is_absolute():
        root = run.resolve().parents[1] / root
    data = open_dataset({**cfg["dataset"], "root": str(root)})
    groups = {k: _read(files, k, image_id) for k in PANEL_FILES}
    if all(g is None for g in groups.values()) and not _is_held_out(run, image_id):
        raise KeyError(f"image '{image_id}' is in no stage file of {run} (nor in its held-out split)")
    image = data.load_image(image_id)
    size = image.shape[:2]
    irn_model = Path(given.get("irn_model", run / MODELS["irn"]))
    if groups["irn"] is None and irn_model.is_file() and any(g is not None for g in groups.values()):
        groups["irn"] = irn_maps(irn_model, image, _irn_settings(Path(given.get("walk", run / STAGE_FILES["walk"]))))
    note = "{} has not run on this image".format
    panels: list[tuple[str, np.ndarray | str]] = []
    if data.has_gt(image_id):
        gt = data.semantic_gt(image_id)
        panels.append(("image + ground truth", blend(image, palette_image(gt), 0.5, (gt > 0) & (gt != IGNORE))))
    else:
        panels.append(("image (no ground truth)", image))
    if (g := groups["cams"]) is not None:
        keys, full = stage_cams(g, 1)
        panels += [(f"CAM: {classes[k]}", heat(image, cam)) for k, cam in zip(keys, full)]
        if not len(g["keys"]):
            panels.append(("CAMs", "no foreground label"))
    else:
        panels.append(("CAMs", note("make_cam")))
    if (g := groups["relations"]) is not None:
        lab = g["label"]
        panels.append(
            (
                "relation labels (white: unsure)",
                np.where((lab == IGNORE)[..., None], 255, palette_image(lab)).astype(np.uint8),
            )
        )
    else:
        panels.append(("relation labels", note("mine_relations")))
    if (g := groups["irn"]) is not None:
        labels_cfg = cfg.get("labels", {})
        thr = labels_cfg.get("centroid_threshold", 2.5)
        edge = (255 * upsample(1 - g["boundary"], size)).astype(np.uint8)
        panels.append(("boundary map (dark: boundary)", np.repeat(edge[..., None], 3, -1)))
        field = upsample(displacement_hsv(g["disp"]), size)
        weak = upsample(np.hypot(*g["disp"]) < thr, size)
        panels.append(
            (
                f"displacement (hue: direction)\nwhite: centroid regions |D| < {thr}",
                blend(field, np.full_like(field, 255), 0.6, weak),
            )
        )
        inst = instance_map(torch.from_numpy(g["disp"]), labels_cfg.get("centroid_iterations", 300), thr)
        ids = (inst.long() * torch.arange(1, inst.shape[0] + 1)[:, None, None]).sum(0).numpy()
        panels.append((f"class-agnostic instance map ({inst.shape[0]} regions)", upsample(instance_colours(ids), size)))
    else:
        panels.append(("boundary / displacement", note("infer_irn")))
    if (g := groups["sem"]) is not None:
        panels.append(("semantic pseudo label", blend(image, palette_image(g["label"]), 0.6, g["label"] > 0)))
    else:
        panels.append(("semantic pseudo label", note("make_labels")))
    if (g := groups["ins"]) is not None:
        names = ", ".join(f"{classes[c]} {s:.2f}" for c, s in zip(g["classes"], g["scores"]) if s > 0)
        panels.append(
            (
                f"instance pseudo labels\n{names[:60]}",
                blend(image, instance_colours(g["instances"]), 0.6, g["instances"] > 0),
            )
        )
    else:
        panels.append(("instance pseudo labels", note("make_labels")))
    panels.append(_maskrcnn_panel(run, image_id, image, classes))
    return panels


def prediction_panels(folder: str | Path, image_id: str) -> list[tuple[str, np.ndarray | str]]:
    """The panels of one image of an ``irn predict`` folder: the image, the Mask R-CNN's instances
    and DeepLab's semantic label (those that were predicted)."""
    from .datasets import read_image
    from .io import open_stage, read_group

    path = Path(folder) / "predictions.h5"
    with open_stage(path) as f:
        if image_id not in f:
            raise KeyError(f"image '{image_id}' is not in {path} ({len(f)} images)")
        source = f[image_id].attrs["source"]
        classes = json.loads(f.attrs["classes"])
        g = read_group(f, image_id)
    image = read_image(source)
    panels: list[tuple[str, np.ndarray | str]] = [(f"image ({Path(source).name})", image)]
    if "instances" in g:
        names = ", ".join(f"{classes[c]} {s:.2f}" for c, s in zip(g["classes"], g["scores"]))
        panels.append(
            (f"Mask R-CNN\n{names[:60]}", blend(image, instance_colours(g["instances"]), 0.6, g["instances"] > 0))
        )
    if "label" in g:
        panels.append(("DeepLab", blend(image, palette_image(g["label"]), 0.6, g["label"] > 0)))
    return panels


def _held_out_numbers(run: Path) -> dict[str, int]:
    from .coco import image_key, load

    gt_json = run / GT_COCO.format(split="val")
    if not gt_json.is_file():
        return {}
    return {image_key(im["file_name"]): im["id"] for im in load(gt_json).dataset["images"]}


def _is_held_out(run: Path, image_id: str) -> bool:
    return image_id in _held_out_numbers(run)


def _maskrcnn_panel(run: Path, image_id: str, image: np.ndarray, classes: list[str]):
    from .coco import rle_decode

    pred_json = run / PREDICTIONS.format(source="pseudo")
    numbers = _held_out_numbers(run)
    if not (numbers and pred_json.is_file()):
        return "Mask R-CNN", "eval_maskrcnn has not run"
    if image_id not in numbers:
        return "Mask R-CNN", "not a held-out (val) image"
    preds = [p for p in json.loads(pred_json.read_text()) if p["image_id"] == numbers[image_id] and p["score"] > 0.5]
    ids = np.zeros(image.shape[:2], np.int64)
    for i, p in enumerate(preds, start=1):
        m = rle_decode(p["segmentation"])
        ids[m & (ids == 0)] = i
    names = ", ".join(f"{classes[p['category_id'] - 1]} {p['score']:.2f}" for p in preds)
    return f"Mask R-CNN (score > 0.5)\n{names[:60]}", blend(image, instance_colours(ids), 0.6, ids > 0)


def save_panels(panels: list[tuple[str, np.ndarray | str]], out: str | Path, title: str = "", cols: int = 4) -> Path:
    """One figure of the panels (rows of ``cols``), written as PNG."""
    plt = _pyplot()
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, content) in zip(axes.flat, panels):
        ax.set_title(name, fontsize=8)
        if isinstance(content, str):
            ax.text(0.5, 0.5, content, ha="center", va="center", fontsize=9, transform=ax.transAxes, color="0.4")
        else:
            ax.imshow(content)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def plot_sweeps(cam_json: str | Path, labels_json: str | Path, out: str | Path) -> Path:
    """Quality against the background threshold, side by side: the CAM labels' mIoU
    (``cam.eval_sweep``), the semantic pseudo labels' mIoU (``labels.sem_sweep``) and the instance
    pseudo labels' mAP^r (``labels.ins_sweep``), before the dense CRF where ``labels.crf`` refines
    the labels; dashed: the configured threshold."""
    plt = _pyplot()
    cam = json.loads(Path(cam_json).read_text())
    labels = json.loads(Path(labels_json).read_text()) if Path(labels_json).is_file() else {}
    panels = [("CAM labels", "mIoU", cam["sweep"], cam["threshold"])]
    # with labels.crf the sweeps judge the labels before the dense CRF that refines the labels themselves
    before = " (before the CRF)" if labels.get("sem_pseudo", {}).get("crf") else ""
    if "sweep" in labels.get("sem_pseudo", {}):
        sem = labels["sem_pseudo"]
        panels.append(("semantic pseudo labels" + before, "mIoU", sem["sweep"], sem["threshold"]))
    if "sweep" in labels.get("ins_pseudo", {}):
        ins = labels["ins_pseudo"]
        levels = sorted({k for v in ins["sweep"].values() for k in v})
        panels.append(
            (
                "instance pseudo labels" + before,
                "mAP^r",
                {lv: {t: v[lv] for t, v in ins["sweep"].items()} for lv in levels},
                ins["threshold"],
            )
        )
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.5), squeeze=False)
    for ax, (title, ylabel, sweep, configured) in zip(axes[0], panels):
        curves = sweep if isinstance(next(iter(sweep.values())), dict) else {ylabel: sweep}
        for name, curve in curves.items():
            pts = sorted((float(t), v) for t, v in curve.items() if v is not None)
            ax.plot([t for t, _ in pts], [v for _, v in pts], "o-", label=name.replace("map", "mAP"))
        ax.axvline(configured, color="0.6", ls="--", label=f"configured {configured:.2f}")
        ax.set_xlabel("background threshold")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)


def plot_losses(histories: dict[str, list[dict]], out: str | Path) -> Path:
    """Per-epoch training losses of every trained model (``total`` and its parts)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(histories), figsize=(4 * len(histories), 3.2), squeeze=False)
    for ax, (name, hist) in zip(axes[0], histories.items()):
        keys = [k for k in (hist[0] if hist else {}) if k != "epoch"]
        for k in keys:
            ax.plot([h["epoch"] for h in hist], [h[k] for h in hist], "o-", label=k, lw=2 if k == "total" else 1)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return Path(out)


def plot_wall_time(seconds: dict[str, float], out: str | Path) -> Path:
    plt = _pyplot()
    items = sorted(seconds.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set_xlabel("seconds (wall clock, per rule)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return Path(out)


def per_class_table(classes: list[str], columns: dict[str, list], out: str | Path) -> Path:
    """An HTML table: one row per class, one column per metric (None shown as -)."""
    head = "".join(f"<th>{c}</th>" for c in ["class", *columns])
    rows = []
    for i, name in enumerate(classes):
        cells = "".join(f"<td>{'-' if v[i] is None else f'{v[i]:.3f}'}</td>" for v in columns.values())
        rows.append(f"<tr><td>{name}</td>{cells}</tr>")
    html = (
        f"<html><body><table border='1' cellpadding='4' style='border-collapse:collapse'>"
        f"<tr>{head}</tr>{''.join(rows)}</table></body></html>\n"
    )
    Path(out).write_text(html)
    return Path(out)
