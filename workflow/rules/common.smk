from pathlib import Path

from snakemake.utils import validate


validate(config, "../schemas/config.schema.yaml")


def _check_config(cfg):
    """Checks a schema cannot express; messages name the key and the path."""
    ds = cfg["dataset"]
    root = Path(ds["root"])
    if ds["kind"] == "voc":
        if not root.is_dir():
            raise ValueError(f"config key dataset.root: dataset folder '{root}' does not exist")
        for key in ("train_list", "eval_list", "val_list"):
            if not (root / ds[key]).is_file():
                raise ValueError(f"config key dataset.{key}: split list '{root / ds[key]}' does not exist")
    else:
        if "toy" not in cfg:
            raise ValueError("config key toy: required when dataset.kind is 'toy'")
        from irn_core.toy import TOY_CLASSES

        if list(ds["classes"]) != list(TOY_CLASSES):
            raise ValueError(f"config key dataset.classes: the toy dataset's classes are {list(TOY_CLASSES)}")
        if cfg["toy"]["min_size"] > cfg["toy"]["max_size"]:
            raise ValueError("config key toy.min_size: larger than toy.max_size")
    pre = cfg["cam"]["pretrained"]
    if pre and not Path(pre).expanduser().is_file():
        raise ValueError(
            f"config key cam.pretrained: weights file '{pre}' not found (set it to null to train from scratch)")


_check_config(config)

RUN = config["run_name"]
OUT = f"results/{RUN}"
DATA = config["dataset"]["root"]
THREADS = config["threads"]
# rules that run two at a time (propagate beside make_instances, the two Mask R-CNNs) share the cores
HALF_THREADS = max(1, THREADS // 2)


def dataset_files():
    """The dataset's split lists: produced by prepare_toy, or already on disk for VOC."""
    ds = config["dataset"]
    return sorted({f"{DATA}/{ds[k]}" for k in ("train_list", "eval_list", "val_list")})


def summary_inputs(wildcards=None):
    """Evaluation JSON of every stage that the run includes, by summary section."""
    evals = {"cam": f"{OUT}/cam/eval.json", "labels": f"{OUT}/labels/eval.json",
             "maskrcnn": f"{OUT}/maskrcnn/pseudo/eval.json", "deeplab": f"{OUT}/deeplab/eval.json"}
    if config["maskrcnn"]["gt_upper_bound"]:
        evals["maskrcnn_gt"] = f"{OUT}/maskrcnn/gt/eval.json"
    return evals


def gt_coco_inputs(wildcards):
    """The split lists; for the training split also the pseudo-label JSON, whose image ids and
    order the ground-truth JSON copies (both detectors then see the same images in the same order)."""
    inputs = {"lists": dataset_files()}
    if wildcards.split == "train":
        inputs["like"] = f"{OUT}/labels/ins_pseudo_coco.json"
    return inputs


def maskrcnn_train_json(source):
    """Training annotations of a Mask R-CNN variant: pseudo labels, or ground truth (upper bound)."""
    return f"{OUT}/labels/ins_pseudo_coco.json" if source == "pseudo" else f"{OUT}/maskrcnn/gt_train_coco.json"
