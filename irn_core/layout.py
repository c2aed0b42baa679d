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
# stage files removed once their readers have run (Snakemake temp(); kept with `snakemake --notemp`):
# IRNet's maps (30 KB an image at toy size) are read by random_walk only, and remade by infer_irn from
# the kept model when a walk setting changes (the diagnostics, the report and `irn show` remake those
# of their few images from the model)
TEMPORARY = ("irn",)
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
LARGEST = "dataset/{split}.largest.json"  # its image count and largest image: what a job's memory reads
SPLIT_INDEX = "dataset/index"  # what planning needs of the splits, cached (irn_core.split_index)
EXTERNAL_STAMP = "cam/external.stamp"  # digest of a folder of external CAMs (import_cam's input)
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
    """What one job of a rule needs, for an executor (SLURM) to place it. Seconds and MB come from
    ``benchmarks/bench_scale.py --part stages`` (results.json ``scale.stages``): the pipeline on 50
    images of about 500 x 375 with ResNet-50 on 2 CPU threads, each job's seconds per image and peak
    RSS, with a margin (seconds x1.5, MB x1.25); the per-megapixel MB from ``--part memory``'s large
    photo. Jobs on more cores run faster than this; on a GPU see GPU_SPEEDUP."""

    minutes: float  # fixed wall time (start-up, model load, the job's own parse of the workflow)
    seconds_per_image: float  # per image of the job on the CPU (per image and epoch for training)
    mb: int  # peak memory at 500 x 375 (torch rules: with ResNet-50, scaled by the backbone)
    mb_per_image: float = 0.0  # what grows with the job's images (a COCO JSON built in memory)
    mb_per_megapixel: float = 0.0  # per megapixel of the job's largest image (dataset.max_side bounds it)
    splits: tuple[str, ...] = ()  # the splits whose images a job reads
    torch: bool = False  # runs on the GPU when there is one
    sharded: bool = False  # one shard of its images per job (shards > 1)
    threads: str = "one"  # one core, all of ``threads``, or half of them when run locally (side by side)
    epochs: str | None = None  # the config section whose epochs multiply its time


# A torch job on one GPU against the CPU figures: assumed, not measured (no GPU was lent to the
# sessions that measured; bench_scale.py --part stages on a CUDA machine measures it)
GPU_SPEEDUP = 10

JOBS = {
    # measured (bench_scale.py, 500 x 375, ResNet-50, 2 CPU threads): s per image, peak MB. The MB of
    # a per-image torch rule: its peak above a bare process (550 MB) over its largest image (500 x 500)
    # with ResNet-50, x1.25, per megapixel, scaled by the backbone; of the others: the slope from 0.79
    # to 12 megapixels (bench_scale.py --part memory: one 4000 x 3000 photo, max_side 1024 vs none)
    "prepare_toy": Job(5, 0.05, 1000, splits=("train", "val")),  # toy only (not measured at size)
    "check_dataset": Job(5, 0.004, 700, splits=("train", "eval", "val"), threads="all"),  # 372 images/s, 546
    "train_cam": Job(10, 3.4, 11000, splits=("train",), torch=True, threads="all", epochs="cam"),  # 2.23, 8783
    "make_cam": Job(
        5, 8.3, 1000, mb_per_megapixel=21000, splits=("train", "eval"), torch=True, sharded=True, threads="all"
    ),  # 5.51, 4777
    "import_cam": Job(5, 0.05, 1100, splits=("train", "eval")),  # not measured: as eval_cam's MB
    "eval_cam": Job(5, 0.18, 1100, mb_per_megapixel=35, splits=("eval",)),  # 0.12, 818
    "mine_relations": Job(
        5, 0.84, 1800, mb_per_megapixel=270, splits=("train",), sharded=True, threads="all"
    ),  # 0.56, 1396
    "train_irn": Job(10, 2.3, 12200, splits=("train",), torch=True, threads="all", epochs="irn"),  # 1.53, 9728
    "infer_irn": Job(
        5, 1.75, 1000, mb_per_megapixel=3300, splits=("train", "eval"), torch=True, sharded=True, threads="all"
    ),  # 1.17, 1216
    "random_walk": Job(
        5, 0.5, 1000, mb_per_megapixel=1750, splits=("train", "eval"), torch=True, sharded=True, threads="all"
    ),  # 0.33, 901
    "make_labels": Job(
        5, 0.13, 1000, mb_per_megapixel=440, splits=("train", "eval"), torch=True, sharded=True, threads="all"
    ),  # 0.086, 638
    "pseudo_coco": Job(5, 0.08, 700, 0.05, splits=("train", "eval")),  # 0.053, 521
    "baselines": Job(5, 0.14, 1000, mb_per_megapixel=70, splits=("eval",), sharded=True),  # 0.094, 753
    "eval_pseudo": Job(5, 0.7, 1100, mb_per_megapixel=35, splits=("eval",)),  # 0.45, 834
    "diagnostics": Job(5, 6.0, 1000, mb_per_megapixel=3000, splits=("eval",), torch=True, threads="all"),  # 3.98, 1151
    "gt_coco": Job(5, 0.63, 900, 0.05, splits=("train", "val")),  # 0.42 (10 images), 697
    # on pseudo labels without instances (random weights): no mask loss; x2 margin
    "train_maskrcnn": Job(
        10, 12.0, 6300, 0.05, splits=("train", "eval"), torch=True, threads="half", epochs="maskrcnn"
    ),  # 5.88, 5028
    "eval_maskrcnn": Job(5, 3.7, 1000, 0.02, 3300, splits=("val",), torch=True, threads="half"),  # 2.46, 1212
    "train_deeplab": Job(10, 2.7, 5000, splits=("train",), torch=True, threads="all", epochs="deeplab"),  # 1.80, 4021
    "eval_deeplab": Job(
        5, 13.7, 1000, mb_per_megapixel=10600, splits=("val",), torch=True, threads="all"
    ),  # 9.11, 2676
    "summary": Job(2, 0, 1000),
    "report": Job(5, 0, 4000),
    "export_public": Job(5, 0.1, 2000, splits=("train", "eval")),
    "predict": Job(5, 8.3, 1000, mb_per_megapixel=21000, torch=True, threads="all"),  # as make_cam
    "index_shards": Job(2, 0.001, 1000, splits=("train", "eval")),
}
BACKBONE_MEMORY = {"resnet50": 1.0, "resnet18": 0.5, "resnet_tiny": 0.125}  # of a torch rule's fixed MB


def job_images(rule: str, split_sizes: dict[str, int], shards: int) -> int:
    """Images one job of ``rule`` reads (an upper bound: splits may overlap)."""
    job = JOBS[rule]
    n = sum(split_sizes[s] for s in job.splits)
    return -(-n // shards) if job.sharded else n


def job_mb(rule: str, images: int, backbone: str, attempt: int = 1, megapixels: float = 0.1875) -> int:
    """Memory of a job (MB): fixed + per image + per megapixel of its largest image (default
    500 x 375); doubles with each retry."""
    job = JOBS[rule]
    scale = BACKBONE_MEMORY[backbone] if job.torch else 1.0
    fixed = max(1000, job.mb * scale) if job.torch else job.mb
    per_mp = job.mb_per_megapixel * scale
    return int((fixed + job.mb_per_image * images + per_mp * megapixels) * 2 ** (attempt - 1))


def job_minutes(rule: str, images: int, epochs: int, gpu: bool, attempt: int = 1) -> int:
    """Wall-time limit of a job (minutes): fixed + per image (x epochs; / GPU_SPEEDUP for a torch
    rule on a GPU); doubles with each retry."""
    job = JOBS[rule]
    seconds = job.seconds_per_image * images * (epochs if job.epochs else 1)
    if job.torch and gpu:
        seconds /= GPU_SPEEDUP
    return int((job.minutes + seconds / 60) * 2 ** (attempt - 1))
