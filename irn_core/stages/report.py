"""Stage of the Snakemake report: the figures a researcher looks at, cached as files."""

from __future__ import annotations

import json
from pathlib import Path

from ..checkpoints import load_checkpoint
from ..figures import image_panels, per_class_table, plot_losses, plot_sweeps, plot_wall_time, save_panels
from ..layout import MODEL_TITLES, MODELS, STAGE_FILES
from ..progress import log
from .summary import stage_seconds

# what each runner reads (irn_core.config.rule_settings): the run's files, not its settings
SETTINGS = {
    "report": ["dataset.classes"],
}


def _json(path: str | None) -> dict:
    return json.loads(Path(path).read_text()) if path and Path(path).is_file() else {}


def report(cfg: dict, inputs: dict[str, str], benchmarks: str, out: dict, examples: int = 3) -> None:
    """Write the report's figures from its ``inputs`` (the summary, ``eval_<name>``,
    ``model_<name>``, the stage files, by their names in irn_core.layout, and the eval split's
    manifest ``manifest_eval``) and the rules' ``benchmarks`` folder. ``out``: paths of sweeps
    (PNG), per_class (HTML), losses (PNG), wall_time (PNG) and panels (a folder: one PNG for each of
    the first ``examples`` images of the eval split)."""
    classes = cfg["dataset"]["classes"]
    example_ids = _json(inputs["manifest_eval"])["ids"][:examples]
    run = Path(inputs["summary"]).parent
    plot_sweeps(inputs["eval_cam"], inputs["eval_labels"], out["sweeps"])
    cam, labels, deeplab = (_json(inputs.get(f"eval_{k}")) for k in ("cam", "labels", "deeplab"))
    rows = ["background", *classes]
    columns = {
        "CAM IoU": cam.get("per_class_iou", [None] * len(rows)),
        "semantic pseudo label IoU": labels.get("sem_pseudo", {}).get("per_class_iou", [None] * len(rows)),
    }
    for t, ap in labels.get("ins_pseudo", {}).get("per_class_ap", {}).items():
        columns[f"instance pseudo label AP@{t}"] = [None, *ap]
    if deeplab:
        columns["DeepLab IoU (held out)"] = deeplab["per_class_iou"]
    per_class_table(rows, columns, out["per_class"])
    histories = {
        MODEL_TITLES[name]: load_checkpoint(inputs[f"model_{name}"]).get("history", [])
        for name in MODELS
        if f"model_{name}" in inputs
    }
    plot_losses(histories, out["losses"])
    plot_wall_time(stage_seconds(benchmarks), out["wall_time"])
    folder = Path(out["panels"])
    folder.mkdir(parents=True, exist_ok=True)
    files = {k: inputs[k] for k in STAGE_FILES if k in inputs}
    if "model_irn" in inputs:  # the boundary and displacement panels (IRNet's maps are temporary)
        files["irn_model"] = inputs["model_irn"]
    for image_id in example_ids:
        save_panels(image_panels(run, image_id, files), folder / f"{image_id}.png", title=f"{run.name}: {image_id}")
    log(f"report: figures of {len(histories)} trained models, {len(example_ids)} example images")
