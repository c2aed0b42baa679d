"""Predictions of a finished run's models on new images: the Mask R-CNN's instances and DeepLab's
semantic labels, for images of any size and mode, on the device, with progress.

For each image (id: its file name without extension) the output folder gets the image's
instances in ``predictions.json`` (a COCO results list: image_id, category_id, the class name,
score, RLE segmentation), an instance-id PNG (``<id>.instances.png``: 0 none, i the i-th
instance of the image in the JSON's order, 16-bit) and a semantic PNG (``<id>.semantic.png``,
VOC palette), each at the image's own size; and ``predictions.h5`` in the stage-file layout
(``irn inspect`` explains it, ``irn show`` draws its images). An image that cannot be read is
named, and the others are predicted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checkpoints import load_checkpoint
from .coco import rle_encode
from .crf import crf_probabilities
from .data import scaled_views
from .datasets import DatasetError, read_image
from .digest import input_digest
from .io import atomic_h5, atomic_path, provenance, write_group, write_json
from .layout import MASKRCNN_MODEL, MODELS
from .models import build_backbone
from .progress import Progress, log
from .supervised import build_deeplab, build_maskrcnn, predict_segmentation
from .voc import save_palette_png

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
OUTPUT_FILES = ("predictions.json", "predictions.h5")


@dataclass
class Models:
    """The trained models of a run, on the device, and their files."""

    classes: list[str]
    device: torch.device
    maskrcnn: torch.nn.Module | None = None
    deeplab: torch.nn.Module | None = None
    files: dict[str, str] = field(default_factory=dict)


def run_models(run_dir: str | Path, which: str) -> dict[str, Path]:
    """The model files of a run folder: the Mask R-CNN trained on the pseudo labels and/or DeepLab
    (``which``: maskrcnn, deeplab or both)."""
    if which not in ("maskrcnn", "deeplab", "both"):
        raise ValueError(f"unknown model '{which}' (maskrcnn, deeplab or both)")
    files = {
        "maskrcnn": Path(run_dir) / MASKRCNN_MODEL.format(source="pseudo"),
        "deeplab": Path(run_dir) / MODELS["deeplab"],
    }
    return {k: v for k, v in files.items() if which in (k, "both")}


def _model_file(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trained model (run the workflow's target for it first)")
    state = load_checkpoint(path)
    if "settings" not in state or "classes" not in state:
        raise ValueError(
            f"{path}: the model file carries no settings or classes (written by an older version; retrain it)"
        )
    return state


def load_models(files: dict[str, str | Path], device: torch.device) -> Models:
    """The models of ``files`` (``maskrcnn`` and/or ``deeplab``: model files), built from the
    files alone (architecture, classes) on ``device``."""
    models = None
    for kind, path in files.items():
        state = _model_file(Path(path))
        s = state["settings"]
        if kind == "maskrcnn":
            net = build_maskrcnn(
                build_backbone(s["cam"]["backbone"], last_stride=2),
                len(state["classes"]),
                s["maskrcnn"],
                frozen_bn=True,
            )
        else:
            net = build_deeplab(build_backbone(s["cam"]["backbone"]), len(state["classes"]) + 1, frozen_bn=True)
        net.load_state_dict(state["model"])
        if models is None:
            models = Models(state["classes"], device)
        elif models.classes != state["classes"]:
            raise ValueError(f"{path}: trained on classes {state['classes']}, the other model on {models.classes}")
        setattr(models, kind, net.to(device).eval())
        models.files[kind] = str(path)
    return models


def image_files(paths: list[str | Path]) -> list[Path]:
    """Image files and the image files of folders (sorted), in the order given."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        else:
            out.append(p)
    return out


def instance_id_map(masks: np.ndarray, scores: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint16: 0 none, i+1 instance i; a pixel of several masks goes to the higher score."""
    ids = np.zeros(size, np.uint16)
    for i in np.argsort(scores, kind="stable"):  # the higher scores painted last
        ids[masks[i]] = i + 1
    return ids


@torch.no_grad()
def _instances(model, images: list[np.ndarray], device, threshold: float):
    """(masks (N, H, W) bool, classes (N,), scores (N,)) above ``threshold`` of each image."""
    batch = [torch.from_numpy(img).permute(2, 0, 1).float().div(255).to(device) for img in images]
    for out in model(batch):
        keep = out["scores"] > threshold
        yield (
            (out["masks"][keep, 0] > 0.5).cpu().numpy(),
            (out["labels"][keep] - 1).cpu().numpy(),
            out["scores"][keep].cpu().numpy(),
        )


@torch.no_grad()
def _semantic(model, image: np.ndarray, device, scales, flip: bool, crf: bool) -> np.ndarray:
    """(H, W) uint8 class map: 0 background, k+1 class k."""
    views = [v.to(device) for v in scaled_views(image, scales)]
    probs = predict_segmentation(model, views, flip, image.shape[:2]).float().cpu().numpy()
    if crf:
        probs = crf_probabilities(image, probs)
    return probs.argmax(0).astype(np.uint8)


def predict_images(
    models: Models,
    paths: list[str | Path],
    out_dir: str | Path,
    score_threshold: float = 0.5,
    batch_size: int = 4,
    scales=(1.0,),
    flip: bool = True,
    crf: bool = False,
    run_name: str = "",
) -> dict:
    """Predict every image of ``paths`` (files or folders) into ``out_dir`` (see the module's
    docstring). Mask R-CNN takes ``batch_size`` images at a time; DeepLab averages ``scales`` and
    the flip (and a dense CRF with ``crf``). Returns {"images": predicted, "instances": kept,
    "failures": [a message naming each image that could not be predicted]}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = image_files(paths)
    failures, seen, results = [], {}, []
    settings = {
        "dataset": {"classes": models.classes},
        "predict": {"score_threshold": score_threshold, "scales": list(scales), "flip": flip, "crf": crf},
    }
    digests = {f"{k}_digest": input_digest(path) for k, path in models.files.items()}
    with atomic_h5(out_dir / "predictions.h5", provenance("predict", run_name, settings, **digests)) as h5:
        pending: list[tuple[str, Path, np.ndarray]] = []

        def flush() -> None:
            images = [img for _, _, img in pending]
            preds = (
                _instances(models.maskrcnn, images, models.device, score_threshold)
                if models.maskrcnn
                else [None] * len(pending)
            )
            for (image_id, path, image), inst in zip(pending, preds):
                arrays = {"image_size": np.array(image.shape[:2])}
                if inst is not None:
                    masks, classes, scores = inst
                    ids = instance_id_map(masks, scores, image.shape[:2])
                    arrays |= {"instances": ids, "classes": classes.astype(np.int64), "scores": scores}
                    Image.fromarray(ids).save(out_dir / f"{image_id}.instances.png")
                    results.extend(
                        {
                            "image_id": image_id,
                            "category_id": int(c) + 1,
                            "class": models.classes[c],
                            "score": float(s),
                            "segmentation": rle_encode(m),
                        }
                        for m, c, s in zip(masks, classes, scores)
                    )
                if models.deeplab is not None:
                    arrays["label"] = _semantic(models.deeplab, image, models.device, scales, flip, crf)
                    save_palette_png(out_dir / f"{image_id}.semantic.png", arrays["label"])
                write_group(h5, image_id, arrays, compression="gzip")
                h5[image_id].attrs["source"] = str(path.resolve())
            pending.clear()

        for path in Progress(files, "predict"):
            image_id = path.stem
            if image_id in seen:
                failures.append(
                    f"{path}: image id '{image_id}' is also the id of {seen[image_id]} (ids are file "
                    f"names without extension)"
                )
                continue
            try:
                image = read_image(path)
            except DatasetError as err:
                failures.append(str(err))
                continue
            seen[image_id] = path
            pending.append((image_id, path, image))
            if len(pending) == batch_size:
                flush()
        if pending:
            flush()
    with atomic_path(out_dir / "predictions.json") as tmp:
        tmp.write_text(json.dumps(results))
    write_json(out_dir / "failures.json", failures)
    log(
        f"predict: {len(seen)} images to {out_dir}, {len(results)} instances above score {score_threshold}"
        + (f"; {len(failures)} could not be read" if failures else "")
    )
    return {"images": len(seen), "instances": len(results), "failures": failures}
