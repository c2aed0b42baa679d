import functools
import json
from pathlib import Path

from irn_core import layout
from irn_core.checks import cuda_visible, split_index, split_sizes, startup, validate_config
from irn_core.config import SPLIT_LISTS, rule_settings
from irn_core.datasets import dynamic_imports
from irn_core.digest import code_digest

validate_config(config, Path(workflow.main_snakefile).parent / "workflow/schemas/config.schema.yaml")
RUN = config["run_name"]
OUT = f"results/{RUN}"
# the dataset's splits as planning needs them, cached (irn_core.split_index): parsing this workflow
# reads a few KB whatever the dataset's size. The submitting process checks the config (files,
# classes, weights) and keeps the index fresh; a cluster job (which parses the workflow again) reads it.
INDEX_DIR = f"{OUT}/{layout.SPLIT_INDEX}"
if workflow.is_main_process:
    INDEX, _errors = startup(config, INDEX_DIR, f"{OUT}/{layout.EXTERNAL_STAMP}")
    if _errors:
        raise ValueError("configuration problems:\n  " + "\n  ".join(_errors))
else:
    INDEX = split_index(config, INDEX_DIR, build=False)[0]
DATA = config["dataset"]["root"]
THREADS = config["threads"]
SHARDS = config["shards"]
EXTERNAL_CAMS = config["cam"]["external"]  # CAMs made elsewhere replace train_cam + make_cam
SCRIPTS = Path(workflow.main_snakefile).parent / "workflow" / "scripts"


# ---- the run folder (irn_core.layout) ------------------------------------------------------------
def stage_file(name):
    """A per-image stage file; with shards > 1, the index of its shard files."""
    return f"{OUT}/{layout.STAGE_FILES[name]}"


def model(name):
    return f"{OUT}/{layout.MODELS[name]}"


def evaluation(name):
    return f"{OUT}/{layout.EVALS[name]}"


def run_file(pattern, **fields):
    """Another file of the run folder (a pattern of irn_core.layout)."""
    return f"{OUT}/{pattern.format(**fields)}" if fields else f"{OUT}/{pattern}"


def manifest(split):
    """The checked manifest of a split (written by check_dataset)."""
    return run_file(layout.MANIFEST, split=split)


def manifests(*splits):
    return [manifest(s) for s in splits]


def log_file(job):
    return f"{OUT}/{layout.LOGS}/{job}.log"


def benchmark_file(job):
    return f"{OUT}/{layout.BENCHMARKS}/{job}.tsv"


# ---- what a rule's output depends on: its settings, its code, its inputs ---------------------------
def settings(rule, split=None):
    """The settings ``rule`` reads, as its stage module declares them (irn_core.config.rule_settings):
    one param, so a changed value reruns it; its runner gets exactly these."""
    return rule_settings(config, rule, split)


def code(rule):
    """The code version of a rule: the code its script can run (irn_core.digest.code_digest), with
    the dataset reader of this run (imported by name at run time)."""
    return code_digest(SCRIPTS / f"{rule}.py", dynamic=dynamic_imports(config["dataset"]["kind"]))


def weights(section):
    """The ImageNet weights file that a training step reads, as an input (a replaced file reruns
    it); for cam when cam.pretrained is set, for the others when their init is 'imagenet'."""
    pre = config["cam"]["pretrained"]  # 'imagenet': torchvision's weights (the torch cache; named, not a file)
    used = pre and pre != "imagenet" and (section == "cam" or config[section]["init"] == "imagenet")
    return [str(Path(pre).expanduser())] if used else []


def cam_model(section):
    """The trained CAM network, as an input of a step that starts from its backbone (init 'cam')."""
    return [model("cam")] if config[section]["init"] == "cam" else []


def external_cam_inputs(wildcards):
    """import_cam's inputs: the HDF5 file, or a folder of .npy files and its stamp (a digest of its
    files' sizes and mtimes, rewritten when they change), so a replaced CAM file reruns the import."""
    src = Path(EXTERNAL_CAMS).expanduser()
    if not src.is_dir():
        return [str(src)]
    return [str(src), f"{OUT}/{layout.EXTERNAL_STAMP}"]


def split_inputs(wildcards):
    """check_dataset's inputs: the split file and its stamp, a digest of the sizes and mtimes of the
    split's image and annotation files (irn_core.split_index), rewritten only when one changes, so
    an edited image reruns the check and what depends on it, and a few KB are read to know. The
    toy set is the product of prepare_toy: its list stands for it."""
    ds = config["dataset"]
    split_file = f"{DATA}/{ds[SPLIT_LISTS[wildcards.split]]}"
    if ds["kind"] == "toy":
        return [split_file]
    return [split_file, f"{INDEX_DIR}/{wildcards.split}.stamp"]


def dataset_lists():
    """The dataset's split files: produced by prepare_toy, or already on disk (VOC lists, COCO JSON)."""
    ds = config["dataset"]
    return sorted({f"{DATA}/{ds[k]}" for k in SPLIT_LISTS.values()})


# ---- sharded per-image stages ------------------------------------------------------------------
SHARD_SUFFIX = "" if SHARDS == 1 else ".{shard}"  # logs and benchmarks of shard jobs


def sharded(name):
    """The file a per-image job writes for stage file ``name``: the file itself, or with shards > 1
    its shard ``<dir>/shards/<name>.{shard}.h5`` (index_shards joins them)."""
    return stage_file(name) if SHARDS == 1 else layout.shard_file(stage_file(name), "{shard}")


def shard_of(wildcards):
    """(index, count) of a per-image job's shard: (0, 1) when unsharded."""
    return (int(wildcards.shard), SHARDS) if SHARDS > 1 else (0, 1)


def shard_files(path):
    """The shard files of the stage file ``path``."""
    return [layout.shard_file(path, k) for k in range(SHARDS)]


def temporary_shards(name):
    """With shards > 1, the shard files of the temporary stage file ``name``, for its readers to
    declare: they open the shard files directly, and Snakemake removes a temporary file once no
    job that declares it is left (the index alone would not keep them)."""
    return shard_files(stage_file(name)) if SHARDS > 1 else []


# ---- resources: what an executor (SLURM) needs to place a job (irn_core.layout.JOBS) ------------
# device: cuda asks for a GPU per torch job; auto asks for one when CUDA is visible where Snakemake
# is started (so a run started on a login node without GPUs runs its jobs on the CPU: set
# device: cuda there to get GPU jobs); cpu never does.
TORCH_GPU = config["device"].startswith("cuda") or (config["device"] == "auto" and cuda_visible())
SPLIT_SIZES = {s: n or 1000 for s, n in split_sizes(config, INDEX).items()}


def job_images(rule):
    return layout.job_images(rule, SPLIT_SIZES, SHARDS)


def side_by_side_threads(wildcards):
    """Run locally, the two Mask R-CNNs train and evaluate side by side with half the threads each
    (torchvision's RoIAlign backward is single-threaded); a cluster job gets all of its threads
    (the executor is known when jobs are made, not when the Snakefile is read)."""
    local = workflow.local_exec and not workflow.remote_exec
    return max(1, THREADS // 2) if local else THREADS


def threads_of(rule):
    kind = layout.JOBS[rule].threads
    return side_by_side_threads if kind == "half" else THREADS if kind == "all" else 1


def uses_gpu(rule):
    """GPUs of a job: one per torch job, one per process of a training job (train_processes)."""
    job = layout.JOBS[rule]
    return int(TORCH_GPU and job.torch) * (config["train_processes"] if job.epochs else 1)


@functools.lru_cache(maxsize=8)
def _largest_image(path, mtime_ns):
    with open(path) as fh:
        return tuple(json.load(fh).get("largest") or (0, 0))


def largest_megapixels(rule, input):
    """Megapixels of the largest image a job reads: once check_dataset has checked the splits
    among its inputs, from the few bytes it writes beside each manifest (not the manifest, 10 MB
    at COCO size); before that from the split index (COCO sizes) or the dataset.max_side bound."""
    sizes = []
    for f in input:
        p = Path(f)
        if p.parent.name == "dataset" and p.stem in SPLIT_LISTS:
            small = Path(run_file(layout.LARGEST, split=p.stem))
            if small.is_file():
                sizes.append(_largest_image(str(small), small.stat().st_mtime_ns))
    if not sizes:
        known = [INDEX.largest(s) for s in layout.JOBS[rule].splits] if INDEX else []
        side = config["dataset"]["max_side"] or 1000
        sizes = [k for k in known if k] or [(side, side)]
    return max(h * w for h, w in sizes) / 1e6


def mem_mb(rule):
    """Memory of a job (MB), from its image count and its largest image: doubles with each
    --retries attempt."""
    images, backbone, name = job_images(rule), config["cam"]["backbone"], rule

    def mb(wildcards, input, attempt):
        return layout.job_mb(name, images, backbone, attempt, largest_megapixels(name, input))

    return mb


def runtime(rule):
    """Wall-time limit of a job (minutes): doubles with each --retries attempt."""
    job, images = layout.JOBS[rule], job_images(rule)
    epochs = config[job.epochs]["epochs"] if job.epochs else 1
    return lambda wildcards, attempt: layout.job_minutes(rule, images, epochs, TORCH_GPU, attempt)


# ---- summaries and the report --------------------------------------------------------------------
def summary_target(wildcards):
    """summary.json is the whole run's; summary_<target>.json a named stopping point's."""
    return wildcards.name.removeprefix("summary").lstrip("_") or "all"


def summary_inputs(wildcards):
    """The evaluations a target's summary gathers, by section (irn_core.layout.TARGETS)."""
    evals = layout.TARGETS[summary_target(wildcards)].evals
    return {e: evaluation(e) for e in evals if e != "maskrcnn_gt" or config["maskrcnn"]["gt_upper_bound"]}


def report_inputs(wildcards):
    """What the report's figures are drawn from: the summary, the evaluations, the models'
    training histories, and the stage files of the example panels."""
    files = {"summary": f"{OUT}/{layout.SUMMARY.format(name='summary')}", "manifest_eval": manifest("eval")}
    files |= {f"eval_{e}": evaluation(e) for e in ("cam", "labels", "deeplab")}
    files |= {f"model_{m}": model(m) for m in layout.MODELS}
    # irn is temporary: its panels come from IRNet's model, with the settings the walk file records
    files |= {k: stage_file(k) for k in ("cams", "relations", "walk", "sem", "ins")}
    files["predictions"] = run_file(layout.PREDICTIONS, source="pseudo")
    if EXTERNAL_CAMS:
        del files["model_cam"]
    if not config["maskrcnn"]["gt_upper_bound"]:
        del files["model_maskrcnn_gt"]
    return files


def maskrcnn_train_json(wildcards):
    """Training annotations of a Mask R-CNN variant: pseudo labels, or ground truth (upper bound)."""
    if wildcards.source == "pseudo":
        return run_file(layout.PSEUDO_COCO)
    return run_file(layout.GT_COCO, split="train")


def predict_inputs(wildcards):
    """The models predict runs and the image folder it reads (its files, so a new image reruns it)."""
    which = config["predict"]["model"]
    files = {k: model(k) for k in ("maskrcnn", "deeplab") if which in (k, "both")}
    folder = Path(config["predict"]["images"]).expanduser()
    files["images"] = [str(f) for f in sorted(folder.iterdir()) if f.is_file()] if folder.is_dir() else [str(folder)]
    return files
