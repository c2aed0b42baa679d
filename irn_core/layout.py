"""A run folder (``results/<run_name>/``), defined once: where each stage file, model and
evaluation lives, the named targets, and what a job of each rule costs. The workflow's rules,
the figures, the report, the summary and the ``irn`` command all read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# per-image stage files (one HDF5 group per image), by name
STAGE_FILES = {
    "cams": "cam/cams.h5",
    "relations": "relations/relations.h5",
    "irn": "irn/irn_out.h5",
    "walk": "labels/walk.h5",
    "sem": "labels/sem_pseudo.h5",
    "ins": "labels/ins_pseudo.h5",
    "baseline_cc": "labels/baseline_cc.h5",
    "baseline_sem_cc": "labels/baseline_sem_cc.h5",
}
# a detector's files: {source} is pseudo (trained on the pseudo labels) or gt (on ground truth)
MASKRCNN_MODEL = "maskrcnn/{source}/model.pt"
MASKRCNN_EVAL = "maskrcnn/{source}/eval.json"
# the supervised models as TorchScript, for users without this package (irn_core.checkpoints.save_scripted)
MASKRCNN_SCRIPTED = "maskrcnn/{source}/model.ts"
DEEPLAB_SCRIPTED = "deeplab/model.ts"
PREDICTIONS = "maskrcnn/{source}/predictions_val.json"  # its held-out predictions (COCO results)
# trained models, by name (the report's loss curves are drawn in this order)
MODELS = {
    "cam": "cam/model.pt",
    "irn": "irn/model.pt",
    "maskrcnn": MASKRCNN_MODEL.format(source="pseudo"),
    "maskrcnn_gt": MASKRCNN_MODEL.format(source="gt"),
    "deeplab": "deeplab/model.pt",
}
MODEL_TITLES = {
    "cam": "CAM network",
    "irn": "IRNet",
    "maskrcnn": "Mask R-CNN (pseudo labels)",
    "maskrcnn_gt": "Mask R-CNN (ground truth)",
    "deeplab": "DeepLab",
}
# evaluation files, by the summary section (or sections) they hold
EVALS = {
    "cam": "cam/eval.json",
    "labels": "labels/eval.json",
    "diagnostics": "labels/diagnostics.json",
    "maskrcnn": MASKRCNN_EVAL.format(source="pseudo"),
    "maskrcnn_gt": MASKRCNN_EVAL.format(source="gt"),
    "deeplab": "deeplab/eval.json",
}
# the other files of a run
MANIFEST = "dataset/{split}.json"  # check_dataset's manifest of a split
PSEUDO_COCO = "labels/ins_pseudo_coco.json"  # the instance pseudo labels as COCO JSON
GT_COCO = "maskrcnn/gt_{split}_coco.json"  # ground-truth instances of a split as COCO JSON
SUMMARY = "{name}.json"  # summary.json, summary_<target>.json
REPORT = "report"
PUBLIC = "public"
PREDICT = "predict"  # predictions of the trained models on predict.images
LOGS = "logs"
BENCHMARKS = "benchmarks"


def checkpoints(model: str) -> str:
    """The checkpoint folder of a model's training."""
    return str(Path(MODELS[model]).parent / "checkpoints")


def shard_file(stage_file: str, shard: int | str) -> str:
    """A shard of a per-image stage file: ``<dir>/shards/<name>.<shard>.h5``."""
    p = Path(stage_file)
    return str(p.parent / "shards" / f"{p.stem}.{shard}.h5")


# ---- named targets -------------------------------------------------------------------------------
# the jobs behind each target, as their benchmark files name them (<rule>[_<wildcard>])
_CAMS = ("prepare_toy", "check_dataset_train", "check_dataset_eval", "train_cam", "make_cam", "import_cam", "eval_cam")
_PSEUDO = _CAMS + (
    "mine_relations",
    "train_irn",
    "infer_irn",
    "random_walk",
    "make_labels",
    "pseudo_coco",
    "baselines",
    "eval_pseudo",
    "diagnostics",
)


@dataclass(frozen=True)
class Target:
    """A named stopping point (``snakemake <name>``): the jobs whose wall time its summary counts
    (None: every job) and the evaluations it gathers."""

    jobs: tuple[str, ...] | None
    evals: tuple[str, ...]


TARGETS = {
    "cams": Target(_CAMS, ("cam",)),
    "pseudo_labels": Target(_PSEUDO, ("cam", "labels", "diagnostics")),
    "maskrcnn": Target(
        _PSEUDO
        + (
            "check_dataset_val",
            "gt_coco_train",
            "gt_coco_val",
            "train_maskrcnn_pseudo",
            "train_maskrcnn_gt",
            "eval_maskrcnn_pseudo",
            "eval_maskrcnn_gt",
        ),
        ("cam", "labels", "maskrcnn", "maskrcnn_gt"),
    ),
    "deeplab": Target(_PSEUDO + ("check_dataset_val", "train_deeplab", "eval_deeplab"), ("cam", "labels", "deeplab")),
    "all": Target(None, tuple(EVALS)),
}


def summary_name(target: str) -> str:
    """summary.json for the whole run, summary_<target>.json for a named target."""
    return "summary" if target == "all" else f"summary_{target}"


def benchmark_job(path: str | Path) -> str:
    """The job of a benchmark file: ``make_cam.3.tsv`` (shard 3) is make_cam's."""
    return Path(path).stem.split(".")[0]


# ---- what a job of each rule costs -----------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """What one job of a rule needs, for an executor (SLURM) to place it. Seconds and MB are upper
    estimates for VOC-sized images (500 x 375) with ResNet-50 on one GPU or 8 cores."""

    minutes: float  # fixed wall time
    seconds_per_image: float  # per image of the job (per epoch for training; x4 without a GPU)
    mb: int  # fixed memory (torch rules: ResNet-50's; scaled by the backbone)
    mb_per_image: float = 0.0
    splits: tuple[str, ...] = ()  # the splits whose images a job reads
    torch: bool = False  # runs on the GPU when there is one
    sharded: bool = False  # one shard of its images per job (shards > 1)
    threads: str = "one"  # one core, all of ``threads``, or half of them when run locally (side by side)
    epochs: str | None = None  # the config section whose epochs multiply its time


JOBS = {
    "prepare_toy": Job(5, 0.05, 1000, splits=("train", "val")),
    "check_dataset": Job(5, 0.05, 2000, splits=("train", "eval", "val"), threads="all"),
    "train_cam": Job(10, 0.3, 12000, splits=("train",), torch=True, threads="all", epochs="cam"),
    "make_cam": Job(5, 0.5, 8000, splits=("train", "eval"), torch=True, sharded=True, threads="all"),
    "import_cam": Job(5, 0.05, 4000, splits=("train", "eval")),
    "eval_cam": Job(5, 0.1, 4000, splits=("eval",)),
    "mine_relations": Job(5, 2.0, 4000, splits=("train",), sharded=True, threads="all"),
    "train_irn": Job(10, 0.3, 12000, 0.3, splits=("train",), torch=True, threads="all", epochs="irn"),
    "infer_irn": Job(5, 0.5, 8000, splits=("train", "eval"), torch=True, sharded=True, threads="all"),
    "random_walk": Job(5, 3.0, 8000, splits=("train", "eval"), torch=True, sharded=True, threads="all"),
    "make_labels": Job(5, 0.2, 4000, splits=("train", "eval"), torch=True, sharded=True, threads="all"),
    "pseudo_coco": Job(5, 0.05, 4000, 0.05, splits=("train", "eval")),
    "baselines": Job(5, 0.2, 4000, splits=("eval",), sharded=True),
    "eval_pseudo": Job(5, 0.2, 4000, splits=("eval",)),
    "diagnostics": Job(5, 8.0, 8000, splits=("eval",), torch=True, threads="all"),
    "gt_coco": Job(5, 0.05, 2000, 0.05, splits=("train", "val")),
    "train_maskrcnn": Job(
        10, 0.5, 16000, 0.05, splits=("train", "eval"), torch=True, threads="half", epochs="maskrcnn"
    ),
    "eval_maskrcnn": Job(5, 0.3, 8000, 0.02, splits=("val",), torch=True, threads="half"),
    "train_deeplab": Job(10, 0.3, 12000, splits=("train",), torch=True, threads="all", epochs="deeplab"),
    "eval_deeplab": Job(5, 0.5, 8000, splits=("val",), torch=True, threads="all"),
    "summary": Job(2, 0, 1000),
    "report": Job(5, 0, 4000),
    "export_public": Job(5, 0.1, 2000, splits=("train", "eval")),
    "predict": Job(5, 0.5, 8000, torch=True, threads="all"),
    "index_shards": Job(2, 0.001, 1000, splits=("train", "eval")),
}
BACKBONE_MEMORY = {"resnet50": 1.0, "resnet18": 0.5, "resnet_tiny": 0.125}  # of a torch rule's fixed MB


def job_images(rule: str, split_sizes: dict[str, int], shards: int) -> int:
    """Images one job of ``rule`` reads (an upper bound: splits may overlap)."""
    job = JOBS[rule]
    n = sum(split_sizes[s] for s in job.splits)
    return -(-n // shards) if job.sharded else n


def job_mb(rule: str, images: int, backbone: str, attempt: int = 1) -> int:
    """Memory of a job (MB): fixed + per image; doubles with each retry."""
    job = JOBS[rule]
    fixed = max(1000, job.mb * BACKBONE_MEMORY[backbone]) if job.torch else job.mb
    return int((fixed + job.mb_per_image * images) * 2 ** (attempt - 1))


def job_minutes(rule: str, images: int, epochs: int, gpu: bool, attempt: int = 1) -> int:
    """Wall-time limit of a job (minutes): fixed + per image (x epochs; x4 for a torch rule without
    a GPU); doubles with each retry."""
    job = JOBS[rule]
    slow = 4 if job.torch and not gpu else 1
    seconds = job.seconds_per_image * images * (epochs if job.epochs else 1) * slow
    return int((job.minutes + seconds / 60) * 2 ** (attempt - 1))
