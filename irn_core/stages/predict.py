"""Stage of new images: the run's trained Mask R-CNN and DeepLab on the images of a folder
(``predict.images``), as ``irn predict`` does (irn_core.predict)."""

from __future__ import annotations

from ..device import resolve_device
from ..predict import load_models, predict_images
from ..progress import log

# what each runner reads (irn_core.config.rule_settings)
SETTINGS = {
    "predict": ["predict", "deeplab.test_scales", "deeplab.test_flip", "deeplab.crf"],
}


def predict(cfg: dict, model_files: dict[str, str], out_dir: str) -> dict:
    """Predictions of ``model_files`` (maskrcnn and/or deeplab) for every image of the folder
    ``predict.images`` into ``out_dir``. Images that cannot be read are named in the log and in
    ``failures.json``; the others are predicted (the job does not fail, which would discard them)."""
    settings, deeplab = cfg["predict"], cfg["deeplab"]
    models = load_models(model_files, resolve_device(cfg["device"]))
    done = predict_images(
        models,
        [settings["images"]],
        out_dir,
        settings["score_threshold"],
        settings["batch_size"],
        deeplab["test_scales"],
        deeplab["test_flip"],
        deeplab["crf"],
        run_name=cfg["run_name"],
    )
    for failure in done["failures"]:
        log(f"predict: not predicted: {failure}")
    return done
