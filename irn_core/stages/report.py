"""Stage of the Snakemake report: the figures a researcher looks at, cached as files."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..figures import image_panels, per_class_table, plot_cam_sweep, plot_losses, plot_wall_time, save_panels
from ..progress import log
from .summary import stage_seconds

# the models whose training curves are drawn, by the name shown
MODELS = {"CAM network": "cam/model.pt", "IRNet": "irn/model.pt", "Mask R-CNN (pseudo labels)":
          "maskrcnn/pseudo/model.pt", "Mask R-CNN (ground truth)": "maskrcnn/gt/model.pt",
          "DeepLab": "deeplab/model.pt"}


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def report_figures(run: str | Path, classes: list[str], example_ids: list[str], out: dict) -> None:
    """Write the report's figures. ``out``: paths of cam_sweep (PNG), per_class (HTML), losses
    (PNG), wall_time (PNG) and panels (a folder: one PNG per example image)."""
    run = Path(run)
    plot_cam_sweep(run / "cam/eval.json", out["cam_sweep"])
    cam, labels, deeplab = _json(run / "cam/eval.json"), _json(run / "labels/eval.json"), _json(run / "deeplab/eval.json")
    rows = ["background", *classes]
    columns = {"CAM IoU": cam.get("per_class_iou", [None] * len(rows)),
               "semantic pseudo label IoU": labels.get("sem_pseudo", {}).get("per_class_iou", [None] * len(rows))}
    for t, ap in labels.get("ins_pseudo", {}).get("per_class_ap", {}).items():
        columns[f"instance pseudo label AP@{t}"] = [None, *ap]
    if deeplab:
        columns["DeepLab IoU (held out)"] = deeplab["per_class_iou"]
    per_class_table(rows, columns, out["per_class"])
    histories = {}
    for name, rel in MODELS.items():
        if (run / rel).is_file():
            histories[name] = torch.load(run / rel, map_location="cpu", weights_only=False).get("history", [])
    plot_losses(histories, out["losses"])
    plot_wall_time(stage_seconds(run / "benchmarks"), out["wall_time"])
    folder = Path(out["panels"])
    folder.mkdir(parents=True, exist_ok=True)
    for image_id in example_ids:
        save_panels(image_panels(run, image_id), folder / f"{image_id}.png", title=f"{run.name}: {image_id}")
    log(f"report: figures of {len(histories)} trained models, {len(example_ids)} example images")
