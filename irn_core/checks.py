"""Start-up checks of a configuration: what its schema cannot say (files that must exist, class
lists that must fit the dataset, settings that must agree), each problem naming its key. Run by
the workflow when it reads the config, never by a stage.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import SPLIT_LISTS, ConfigError
from .datasets import SPLIT_KEYS, DatasetError, reader, split_list_path
from .split_index import SplitIndex, folder_digest, write_stamp


def split_sizes(cfg: dict, index: SplitIndex | None) -> dict[str, int | None]:
    """Images per split (train, eval, val) as far as they are known before the run: from the split
    index, or for the toy set from its settings."""
    if cfg["dataset"]["kind"] == "toy":
        toy = cfg.get("toy", {})
        return {s: toy.get("n_val") if s == "val" else toy.get("n_train") for s in SPLIT_LISTS}
    return {s: index.count(s) if index else None for s in SPLIT_LISTS}


def split_index(cfg: dict, folder: str | Path | None, build: bool = True) -> tuple[SplitIndex | None, list[str]]:
    """The split index of a VOC or COCO dataset (None for the toy set, and where a split file cannot
    be read), and the problems met reading it, each naming its key."""
    ds = cfg["dataset"]
    if ds["kind"] == "toy":
        return None, []
    try:
        return SplitIndex(ds, folder, build), []
    except DatasetError as err:
        return None, [f"config key dataset: {err}"]


def _dataset_problems(ds: dict, index: SplitIndex) -> list[str]:
    """Class lists that do not fit the dataset (its split index read)."""
    known = list(ds.get("label_classes") or index.categories() or reader(ds["kind"]).default_label_classes(ds))
    unknown = [c for c in ds["classes"] if c not in known]
    if unknown:
        source = {
            "voc": "dataset.label_classes (default: VOC's 20 classes)",
            "coco": "the categories of the COCO file",
        }[ds["kind"]]
        return [f"config key dataset.classes: {unknown} not among {source}: {', '.join(known)}"]
    return []


def cuda_visible() -> bool:
    """Whether CUDA devices are visible here (how ``device: auto`` resolves), without importing torch
    (the workflow asks when it is parsed, in every cluster job too): an NVIDIA device node, and
    CUDA_VISIBLE_DEVICES not empty or -1 where it is set."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return any(Path("/dev").glob("nvidia[0-9]*"))


def weights_problem(path: str) -> str | None:
    """Why a weights file cannot be used (missing, unreadable, not a state dict), or None."""
    p = Path(path).expanduser()
    if not p.is_file():
        return f"weights file '{p}' not found (set it to null to train from scratch)"
    import torch

    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:
        # torch's own message advises weights_only=False, which would run arbitrary pickled code
        import pickle

        why = (
            "corrupt, or not a PyTorch file"
            if isinstance(err, pickle.UnpicklingError)
            else str(err).strip().splitlines()[0][:200]
            if str(err).strip()
            else type(err).__name__
        )
        return f"weights file '{p}' cannot be read as PyTorch weights ({why})"
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        return f"weights file '{p}' holds no state dict of tensors"
    return None


def validate_config(cfg: dict, schema: str | Path) -> None:
    """Validate ``cfg`` against the schema and set the defaults of the keys it leaves out; a
    ConfigError of a few lines naming the key, the problem and what is allowed (not the schema and
    the config in full)."""
    from jsonschema.exceptions import ValidationError
    from snakemake.utils import validate

    try:
        validate(cfg, str(schema))
    except Exception as err:
        cause = err if isinstance(err, ValidationError) else err.__cause__ or err.__context__
        if not isinstance(cause, ValidationError):
            raise
        raise ConfigError(schema_problem(cause)) from None


def schema_problem(err) -> str:
    """One line for a jsonschema ValidationError: the config key, the problem, what is allowed."""
    key = ".".join(str(p) for p in err.absolute_path)
    where = f"config key {key}" if key else "config"
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = sorted(err.schema.get("properties", {}))
        unknown = sorted(set(err.instance) - set(allowed))
        keys = ", ".join(f"{key}.{k}" if key else k for k in unknown)
        return f"config key {keys}: unknown (allowed here: {', '.join(allowed)})"
    if err.validator == "enum":
        return f"{where}: {err.instance!r} is not one of {', '.join(map(str, err.validator_value))}"
    return f"{where}: {err.message}"


def startup(
    cfg: dict, index_folder: str | Path, external_stamp: str | Path | None = None
) -> tuple[SplitIndex | None, list[str]]:
    """What the submitting process does when it reads a config (a cluster job does none of it): the
    split index, read where stale and cached in ``index_folder``, each split's stamp refreshed
    (check_dataset's input), the stamp of a folder of external CAMs (import_cam's input), and every
    problem of check_config."""
    ds = cfg["dataset"]
    ext = cfg["cam"].get("external")
    if ext and external_stamp and Path(ext).expanduser().is_dir():
        write_stamp(external_stamp, folder_digest(Path(ext).expanduser(), ".npy"))
    index = None
    if ds["kind"] != "toy" and Path(ds["root"]).is_dir() and all(split_list_path(ds, k).is_file() for k in SPLIT_KEYS):
        index, problems = split_index(cfg, index_folder)
        if problems:
            return None, problems
        index.refresh_stamps()
    return index, check_config(cfg, index)


def check_config(cfg: dict, index: SplitIndex | None = None) -> list[str]:
    """Every problem a schema cannot express, each naming its key (empty when all is well).
    ``index``: the dataset's split index (read here, in memory, when not given)."""
    errors = []
    ds = cfg["dataset"]
    root = Path(ds["root"])
    if ds["kind"] in ("voc", "coco"):
        what = "split list" if ds["kind"] == "voc" else "COCO annotation file"
        if not root.is_dir():
            errors.append(f"config key dataset.root: dataset folder '{root}' does not exist")
        else:
            for key in ("train_list", "eval_list", "val_list"):
                if not (root / ds[key]).is_file():
                    errors.append(f"config key dataset.{key}: {what} '{root / ds[key]}' does not exist")
        if ds["kind"] == "coco" and ds.get("label_classes"):
            errors.append(
                "config key dataset.label_classes: must be null for kind 'coco' (the JSON's categories "
                "index its labels)"
            )
        if ds["kind"] == "voc" and ds.get("image_dir"):
            errors.append("config key dataset.image_dir: not used by kind 'voc' (its images are in JPEGImages)")
        if errors:
            index = None
        elif index is None:
            index, problems = split_index(cfg, None)
            errors += problems
        if index is not None:
            errors += _dataset_problems(ds, index)
    else:
        from .toy import TOY_CLASSES

        if "toy" not in cfg:
            errors.append("config key toy: required when dataset.kind is 'toy'")
        elif cfg["toy"]["min_size"] > cfg["toy"]["max_size"]:
            errors.append("config key toy.min_size: larger than toy.max_size")
        if list(ds["classes"]) != list(TOY_CLASSES):
            errors.append(f"config key dataset.classes: the toy dataset's classes are {list(TOY_CLASSES)}")
        if ds.get("label_classes") or ds.get("image_dir"):
            errors.append("config keys dataset.label_classes / dataset.image_dir: must be null for the toy dataset")
    pre = cfg["cam"]["pretrained"]
    if pre == "imagenet":  # torchvision's weights: from the torch cache, downloaded by the rule when absent
        from .models import IMAGENET_WEIGHTS

        if cfg["cam"]["backbone"] not in IMAGENET_WEIGHTS:
            errors.append(
                f"config key cam.pretrained: 'imagenet' has no weights for cam.backbone "
                f"'{cfg['cam']['backbone']}' (those with weights: {', '.join(IMAGENET_WEIGHTS)})"
            )
    elif pre:
        problem = weights_problem(pre)
        if problem:
            errors.append(f"config key cam.pretrained: {problem}")
    for section in ("irn", "maskrcnn", "deeplab"):
        if cfg[section]["init"] == "imagenet" and not pre:
            errors.append(
                f"config key {section}.init: 'imagenet' needs cam.pretrained (a weights file); "
                f"set cam.pretrained or use init 'cam'"
            )
    ext = cfg["cam"].get("external")
    if ext:
        if not Path(ext).expanduser().exists():
            errors.append(
                f"config key cam.external: '{ext}' does not exist (a folder of <id>.npy CAM files or an HDF5 file)"
            )
        for section in ("irn", "maskrcnn", "deeplab"):
            if cfg[section]["init"] == "cam":
                errors.append(
                    f"config key {section}.init: 'cam' needs the trained CAM network, which external CAMs "
                    f"(cam.external) do not provide; use 'imagenet' (with cam.pretrained)"
                )
    rel = cfg["relations"]
    if rel["fg_threshold"] <= rel["bg_threshold"]:
        errors.append(
            f"config key relations.fg_threshold: {rel['fg_threshold']} must be above relations.bg_threshold "
            f"({rel['bg_threshold']}), else no pixel is confident foreground"
        )
    lab = cfg["labels"]
    if lab.get("crf_min_kept") and not lab["crf"]:
        errors.append(
            f"config key labels.crf_min_kept: {lab['crf_min_kept']} has no effect without labels.crf "
            "(it keeps from the walk what the labels' CRF takes); set labels.crf: true, or crf_min_kept: 0"
        )
    lo, hi = cfg["cam"]["resize_long"]
    if lo > hi:
        errors.append(f"config key cam.resize_long: [{lo}, {hi}] is not [low, high]")
    for section in ("irn", "deeplab"):
        a, b = cfg[section]["scale_range"]
        if a > b:
            errors.append(f"config key {section}.scale_range: [{a}, {b}] is not [low, high]")
    if cfg["maskrcnn"]["min_size"] > cfg["maskrcnn"]["max_size"]:
        errors.append("config key maskrcnn.min_size: larger than maskrcnn.max_size")
    sizes = split_sizes(cfg, index)
    n_train, n_eval = sizes["train"], sizes["eval"]
    shards, smallest = cfg.get("shards", 1), min((n for n in (n_train, n_eval) if n is not None), default=None)
    if smallest is not None and shards > smallest:
        which = "train_list" if smallest == n_train else "eval_list"
        errors.append(
            f"config key shards: {shards} is above the {smallest} images of dataset.{which}, so "
            f"{shards - smallest} job(s) of each per-image stage would have no image; at most {smallest}"
        )
    procs = cfg.get("train_processes", 1)
    for section in ("cam", "irn", "maskrcnn", "deeplab"):
        bs = cfg[section]["batch_size"]
        if bs % procs:
            errors.append(
                f"config key {section}.batch_size: {bs} is not a multiple of train_processes ({procs}): "
                f"each process takes an equal slice of every batch"
            )
        if n_train is not None and bs > n_train:
            errors.append(
                f"config key {section}.batch_size: {bs} is above the {n_train} images of "
                f"dataset.train_list (every batch must be full)"
            )
    return errors
