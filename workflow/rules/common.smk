from pathlib import Path

from snakemake.utils import validate

from irn_core.config import check_config, select
from irn_core.digest import code_digest
from irn_core.datasets import dataset_split_ids, split_input_files


validate(config, "../schemas/config.schema.yaml")
_errors = check_config(config)
if _errors:
    raise ValueError("configuration problems:\n  " + "\n  ".join(_errors))

RUN = config["run_name"]
OUT = f"results/{RUN}"
DATA = config["dataset"]["root"]
THREADS = config["threads"]
# rules that run two at a time (propagate beside make_instances, the two Mask R-CNNs) share the cores
HALF_THREADS = max(1, THREADS // 2)
SCRIPTS = Path(workflow.main_snakefile).parent / "workflow" / "scripts"

# ---- what a rule's output depends on (its params; see irn_core/config.py) -------------------
# the dataset keys every reader of images uses; each rule adds the split lists it reads
DATASET = ("dataset.kind", "dataset.root", "dataset.classes", "dataset.label_classes", "dataset.image_dir")
SPLITS = {"train": "train_list", "eval": "eval_list", "val": "val_list"}
CAM_TRAIN = tuple(f"cam.{k}" for k in ("backbone", "pretrained", "optimizer", "momentum", "epochs", "batch_size",
                                       "lr", "weight_decay", "resize_long", "crop_size", "seed"))
# IRNet training reads every irn key but those of inference
IRN_TRAIN = tuple(f"irn.{k}" for k in config["irn"] if k not in ("infer_pad_to", "flip_aligned"))
# what builds the detector (training also reads the optimiser keys; gt_upper_bound only adds a run)
MASKRCNN_MODEL = tuple(f"maskrcnn.{k}" for k in ("min_size", "max_size", "fpn_channels", "anchor_sizes",
                                                 "mask_head_channels", "box_head_dim", "rpn_proposals",
                                                 "rois_per_image", "detections_per_image"))
MASKRCNN_TRAIN = MASKRCNN_MODEL + tuple(f"maskrcnn.{k}" for k in (
    "init", "optimizer", "momentum", "epochs", "iterations", "lr_schedule", "lr_steps", "lr_gamma", "warmup_iters",
    "batch_size", "lr", "weight_decay", "seed"))
# DeepLab training reads every deeplab key but those of inference
DEEPLAB_TRAIN = tuple(f"deeplab.{k}" for k in config["deeplab"] if k not in ("test_scales", "test_flip", "crf"))


def settings(*keys, splits=()):
    """The settings read by a step (dotted keys), plus the dataset keys and the named split lists
    when ``splits`` is given. One Snakemake param, so a changed value reruns the rule."""
    extra = DATASET + tuple(f"dataset.{SPLITS[s]}" for s in splits) if splits else ()
    return select(config, *keys, *extra)


def init_keys(section):
    """cam.pretrained when the section starts from ImageNet weights (only then is it read)."""
    return ("cam.pretrained",) if config[section]["init"] == "imagenet" else ()


def weights(section):
    """The ImageNet weights file that a training step reads, as an input (a replaced file reruns
    it); for cam when cam.pretrained is set, for the others when their init is 'imagenet'."""
    pre = config["cam"]["pretrained"]  # 'imagenet': torchvision's weights (the torch cache; named, not a file)
    used = pre and pre != "imagenet" and (section == "cam" or config[section]["init"] == "imagenet")
    return [str(Path(pre).expanduser())] if used else []


def code(script):
    """Code version of a rule: its script and the irn_core modules it imports (syntax trees)."""
    return code_digest(SCRIPTS / f"{script}.py")


# the CAMs every later stage reads: made by make_cam, or imported by import_cam (cam.external)
CAMS = f"{OUT}/cam/cams.h5"
EXTERNAL_CAMS = config["cam"]["external"]


def cam_model(section):
    """The trained CAM network, as an input of a step that starts from its backbone (init 'cam')."""
    return [f"{OUT}/cam/model.pt"] if config[section]["init"] == "cam" else []


def external_cam_inputs(wildcards):
    """import_cam's inputs: the HDF5 file, or the .npy file of every train/eval image that exists
    (a missing one is the import's to report), so a replaced CAM file reruns the import."""
    src = Path(EXTERNAL_CAMS).expanduser()
    if not src.is_dir():
        return [str(src)]
    ds = config["dataset"]
    ids = dict.fromkeys(i for k in ("train_list", "eval_list") for i in dataset_split_ids(ds, k))
    return [str(src / f"{i}.npy") for i in ids if (src / f"{i}.npy").is_file()]


def manifest(split):
    """The checked manifest of a split (written by check_dataset)."""
    return f"{OUT}/dataset/{split}.json"


def manifests(*splits):
    return [manifest(s) for s in splits]


def split_inputs(wildcards):
    """check_dataset's inputs: the split file and the files of its images, so an edited image or
    annotation reruns the check and what depends on it. A missing file is the check's to report
    (with every other problem). The toy set is the product of prepare_toy: its list stands for it."""
    ds = config["dataset"]
    key = SPLITS[wildcards.split]
    if ds["kind"] == "toy":
        return [f"{DATA}/{ds[key]}"]
    return [str(p) for p in split_input_files(ds, key, with_gt=wildcards.split != "train")]


def dataset_lists():
    """The dataset's split files: produced by prepare_toy, or already on disk (VOC lists, COCO JSON)."""
    ds = config["dataset"]
    return sorted({f"{DATA}/{ds[k]}" for k in SPLITS.values()})


# ---- summaries ---------------------------------------------------------------------------------
# the named stopping points: target -> evaluation files by summary section
def summary_target(wildcards):
    """summary.json is the whole run's; summary_<target>.json a named stopping point's."""
    return wildcards.name.removeprefix("summary").lstrip("_") or "all"


def summary_inputs(wildcards):
    target = summary_target(wildcards)
    evals = {"cam": f"{OUT}/cam/eval.json"}
    if target in ("pseudo_labels", "maskrcnn", "all"):
        evals["labels"] = f"{OUT}/labels/eval.json"
    if target in ("pseudo_labels", "all"):
        evals["diagnostics"] = f"{OUT}/labels/diagnostics.json"
    if target in ("maskrcnn", "all"):
        evals["maskrcnn"] = f"{OUT}/maskrcnn/pseudo/eval.json"
        if config["maskrcnn"]["gt_upper_bound"]:
            evals["maskrcnn_gt"] = f"{OUT}/maskrcnn/gt/eval.json"
    if target in ("deeplab", "all"):
        evals["labels"] = f"{OUT}/labels/eval.json"
        evals["deeplab"] = f"{OUT}/deeplab/eval.json"
    return evals


def report_inputs(wildcards):
    """What the report's figures are drawn from: the summary (every evaluation), the models'
    training histories, and the stage files of the example panels."""
    files = {"summary": f"{OUT}/summary.json", "cams": f"{OUT}/cam/cams.h5",
             "relations": f"{OUT}/relations/relations.h5", "irn": f"{OUT}/irn/irn_out.h5",
             "sem": f"{OUT}/labels/sem_pseudo.h5", "ins": f"{OUT}/labels/ins_pseudo.h5",
             "irn_model": f"{OUT}/irn/model.pt",
             "maskrcnn_model": f"{OUT}/maskrcnn/pseudo/model.pt", "deeplab_model": f"{OUT}/deeplab/model.pt",
             "predictions": f"{OUT}/maskrcnn/pseudo/predictions_val.json"}
    if not EXTERNAL_CAMS:
        files["cam_model"] = f"{OUT}/cam/model.pt"
    if config["maskrcnn"]["gt_upper_bound"]:
        files["maskrcnn_gt_model"] = f"{OUT}/maskrcnn/gt/model.pt"
    return files


def report_examples(wildcards=None, n=3):
    """The images drawn in the report: the first ``n`` of the eval list."""
    lst = Path(DATA) / config["dataset"]["eval_list"]
    if not lst.is_file() or not lst.read_text().strip():
        return []
    return list(dict.fromkeys(dataset_split_ids(config["dataset"], "eval_list")))[:n]


def maskrcnn_train_json(source):
    """Training annotations of a Mask R-CNN variant: pseudo labels, or ground truth (upper bound)."""
    return f"{OUT}/labels/ins_pseudo_coco.json" if source == "pseudo" else f"{OUT}/maskrcnn/gt_train_coco.json"
