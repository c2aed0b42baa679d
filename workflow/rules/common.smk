from pathlib import Path

from snakemake.utils import validate

from irn_core.checks import check_config, cuda_visible, split_size
from irn_core.config import select
from irn_core.datasets import dynamic_imports, split_ids, split_input_files
from irn_core.digest import code_digest


validate(config, "../schemas/config.schema.yaml")
_errors = check_config(config)
if _errors:
    raise ValueError("configuration problems:\n  " + "\n  ".join(_errors))

RUN = config["run_name"]
OUT = f"results/{RUN}"
DATA = config["dataset"]["root"]
THREADS = config["threads"]
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


# what every training step reads besides its section: precision and processes (torchrun)
TRAINING = ("mixed_precision", "train_processes")


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
    """Code version of a rule: the code its script can run (irn_core.digest.code_digest), with
    the dataset reader of this run (imported by name at run time)."""
    return code_digest(SCRIPTS / f"{script}.py", dynamic=dynamic_imports(config["dataset"]["kind"]))


# the CAMs every later stage reads: made by make_cam, or imported by import_cam (cam.external)
CAMS = f"{OUT}/cam/cams.h5"
EXTERNAL_CAMS = config["cam"]["external"]
# the per-image stage files; with shards > 1 each is an index of the stage's shard files
RELATIONS = f"{OUT}/relations/relations.h5"
IRN_OUT = f"{OUT}/irn/irn_out.h5"
SEM = f"{OUT}/labels/sem_pseudo.h5"
INS = f"{OUT}/labels/ins_pseudo.h5"
BASELINE_CC = f"{OUT}/labels/baseline_cc.h5"
BASELINE_SEM_CC = f"{OUT}/labels/baseline_sem_cc.h5"

# ---- sharded per-image stages ---------------------------------------------------------------
SHARDS = config["shards"]


SHARD_SUFFIX = "" if SHARDS == 1 else ".{shard}"  # logs and benchmarks of shard jobs


def sharded(path):
    """The file a per-image job writes for the stage file ``path``. The file itself, or with
    shards > 1 its shard ``<dir>/shards/<name>.{shard}.h5`` (index_shards joins them)."""
    if SHARDS == 1:
        return path
    p = Path(path)
    return str(p.parent / "shards" / f"{p.stem}.{{shard}}.h5")


def shard_of(wildcards):
    """(index, count) of a per-image job's shard: (0, 1) when unsharded."""
    return (int(wildcards.shard), SHARDS) if SHARDS > 1 else (0, 1)


def shard_files(path):
    """The shard files of the stage file ``path``."""
    return [sharded(path).format(shard=k) for k in range(SHARDS)]


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
    ids = dict.fromkeys(i for k in ("train_list", "eval_list") for i in split_ids(ds, k))
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


# ---- resources: what an executor (SLURM) needs to place a job -----------------------------------
# device: cuda asks for a GPU per torch job; auto asks for one when CUDA is visible where Snakemake
# is started (so a run started on a login node without GPUs runs its jobs on the CPU: set
# device: cuda there to get GPU jobs); cpu never does.
TORCH_GPU = config["device"].startswith("cuda") or (config["device"] == "auto" and cuda_visible())
# per rule: fixed minutes, seconds per image (per epoch for training), fixed MB, MB per image,
# torch (uses the GPU when there is one). Seconds and MB are upper estimates for VOC-sized images
# (500 x 375) with ResNet-50 on one GPU or 8 cores (runtime x 4 on the CPU); a job's runtime and
# memory double with each --retries attempt.
COSTS = {
    "prepare_toy": (5, 0.05, 1000, 0, False),
    "check_dataset": (5, 0.05, 2000, 0, False),
    "train_cam": (10, 0.3, 12000, 0, True),
    "make_cam": (5, 0.5, 8000, 0, True),
    "import_cam": (5, 0.05, 4000, 0, False),
    "eval_cam": (5, 0.1, 4000, 0, False),
    "mine_relations": (5, 2.0, 4000, 0, False),
    "train_irn": (10, 0.3, 12000, 0.3, True),
    "infer_irn": (5, 0.5, 8000, 0, True),
    "make_labels": (5, 3.0, 8000, 0, True),
    "pseudo_coco": (5, 0.05, 4000, 0.05, False),
    "baselines": (5, 0.2, 4000, 0, False),
    "eval_pseudo": (5, 0.2, 4000, 0, False),
    "diagnostics": (5, 8.0, 8000, 0, True),
    "gt_coco": (5, 0.05, 2000, 0.05, False),
    "train_maskrcnn": (10, 0.5, 16000, 0.05, True),
    "eval_maskrcnn": (5, 0.3, 8000, 0.02, True),
    "train_deeplab": (10, 0.3, 12000, 0, True),
    "eval_deeplab": (5, 0.5, 8000, 0, True),
    "summary": (2, 0, 1000, 0, False),
    "report": (5, 0, 4000, 0, False),
    "export_public": (5, 0.1, 2000, 0, False),
    "index_shards": (2, 0.001, 1000, 0, False),
}
# the images one job reads (per-image rules: one shard of them) and its epochs
SPLIT_OF = {"train_cam": ("train",), "make_cam": ("train", "eval"), "import_cam": ("train", "eval"),
            "eval_cam": ("eval",), "mine_relations": ("train",), "train_irn": ("train",),
            "infer_irn": ("train", "eval"), "make_labels": ("train", "eval"), "pseudo_coco": ("train", "eval"),
            "baselines": ("eval",), "eval_pseudo": ("eval",), "diagnostics": ("eval",),
            "train_maskrcnn": ("train", "eval"), "eval_maskrcnn": ("val",), "train_deeplab": ("train",),
            "eval_deeplab": ("val",), "export_public": ("train", "eval"), "index_shards": ("train", "eval"),
            "check_dataset": ("train", "eval", "val"), "gt_coco": ("train", "val"), "prepare_toy": ("train", "val")}
SHARDED = ("make_cam", "mine_relations", "infer_irn", "make_labels", "baselines")
EPOCHS = {"train_cam": config["cam"]["epochs"], "train_irn": config["irn"]["epochs"],
          "train_maskrcnn": config["maskrcnn"]["epochs"], "train_deeplab": config["deeplab"]["epochs"]}


def job_images(rule):
    """Images one job of ``rule`` reads (an upper bound: splits may overlap), known at start-up."""
    n = sum(split_size(config, SPLITS[s]) or 1000 for s in SPLIT_OF.get(rule, ()))
    return -(-n // SHARDS) if rule in SHARDED else n


# run locally, the two Mask R-CNNs train and evaluate side by side with half the threads each
# (torchvision's RoIAlign backward is single-threaded); a cluster job gets all of its threads
SIDE_BY_SIDE = ("train_maskrcnn", "eval_maskrcnn")


def side_by_side_threads(wildcards):
    """Half the threads on this machine, all of them in a cluster job (the executor is known
    when jobs are made, not when the Snakefile is read)."""
    local = workflow.local_exec and not workflow.remote_exec
    return max(1, THREADS // 2) if local else THREADS


def threads_of(rule):
    """A torch or multi-process rule takes ``threads``; the others one core."""
    half = rule in SIDE_BY_SIDE
    if half:
        return side_by_side_threads
    return THREADS if COSTS[rule][4] or rule in ("mine_relations", "check_dataset") else 1


def uses_gpu(rule):
    """GPUs of a job: one per torch job, one per process of a training job (train_processes)."""
    return int(TORCH_GPU and COSTS[rule][4]) * (config["train_processes"] if rule in EPOCHS else 1)


# the fixed memory of a torch rule scales with the backbone (ResNet-50's is the table's)
BACKBONE_MEMORY = {"resnet50": 1.0, "resnet18": 0.5, "resnet_tiny": 0.125}[config["cam"]["backbone"]]


def mem_mb(rule):
    """Memory of a job (MB): fixed + per image; doubles with each --retries attempt."""
    _, _, fixed, per_image, torch_rule = COSTS[rule]
    fixed = max(1000, fixed * BACKBONE_MEMORY) if torch_rule else fixed
    return lambda wildcards, attempt: int((fixed + per_image * job_images(rule)) * 2 ** (attempt - 1))


def runtime(rule):
    """Wall-time limit of a job (minutes): fixed + per image (x epochs; x4 without a GPU);
    doubles with each --retries attempt."""
    base, per_image, _, _, torch_rule = COSTS[rule]
    slow = 4 if torch_rule and not TORCH_GPU else 1
    seconds = per_image * job_images(rule) * EPOCHS.get(rule, 1) * slow
    return lambda wildcards, attempt: int((base + seconds / 60) * 2 ** (attempt - 1))


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
    return list(dict.fromkeys(split_ids(config["dataset"], "eval_list")))[:n]


def maskrcnn_train_json(source):
    """Training annotations of a Mask R-CNN variant: pseudo labels, or ground truth (upper bound)."""
    return f"{OUT}/labels/ins_pseudo_coco.json" if source == "pseudo" else f"{OUT}/maskrcnn/gt_train_coco.json"
