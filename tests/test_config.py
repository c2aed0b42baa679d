import copy
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import dry_run, failed, load_config
from snakemake.utils import validate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")


def _load(name):
    return load_config(name)


@pytest.mark.parametrize("name", ["config/config.yaml", "config/voc2012.yaml", "tests/tiny.yaml"])
def test_shipped_configs_are_valid(name):
    validate(_load(name), SCHEMA)


@pytest.mark.parametrize(
    "change,needle",
    [
        (lambda c: c.update(bogus=1), "bogus"),
        (lambda c: c["cam"].update(epochs="ten"), "ten"),
        (lambda c: c["cam"].update(backbone="vgg16"), "vgg16"),
        (lambda c: c["dataset"].update(kind="ade20k"), "ade20k"),
        (lambda c: c["irn"].update(crop_size=100), "100"),
        (lambda c: c.update(mixed_precision="fp8"), "fp8"),
        (lambda c: c.pop("dataset"), "dataset"),
    ],
)
def test_schema_rejects_bad_configs(change, needle):
    cfg = copy.deepcopy(_load("config/config.yaml"))
    change(cfg)
    with pytest.raises(Exception, match=needle):
        validate(cfg, SCHEMA)


def test_a_key_left_out_takes_the_papers_value():
    """The schema's defaults are the paper's setting (the authors' public code): a config lists its
    dataset and what differs. The toy config's own values stay its own."""
    voc, toy = load_config("config/voc2012.yaml"), load_config("config/config.yaml")
    raw = yaml.safe_load((ROOT / "config/voc2012.yaml").read_text())
    assert set(raw) == {"run_name", "threads", "num_workers", "dataset"}
    assert (voc["irn"]["radius"], voc["cam"]["momentum"], voc["irn"]["mean_shift"]) == (10, 1e-4, "crops")
    assert (voc["maskrcnn"]["iterations"], voc["deeplab"]["crf"], voc["channels_last"]) == (18000, True, True)
    assert (
        toy["cam"]["backbone"] == "resnet_tiny" and toy["irn"]["radius"] == 10 and toy["irn"]["mean_shift"] == "images"
    )
    # the walk and its thresholds: the public 256 steps and 0.25 for VOC, the toy's own 64, 0.30 and 0.35
    assert (voc["propagate"]["steps"], voc["labels"]["sem_bg_threshold"], voc["labels"]["ins_bg_threshold"]) == (
        256,
        0.25,
        0.25,
    )
    assert (toy["propagate"]["steps"], toy["labels"]["sem_bg_threshold"], toy["labels"]["ins_bg_threshold"]) == (
        64,
        0.3,
        0.35,
    )
    # the labels as thresholded for VOC; the toy's refined by the CRF, an instance it takes most of keeps its walk mask
    assert (voc["labels"]["crf"], voc["labels"]["crf_min_kept"]) == (False, 0)
    assert (toy["labels"]["crf"], toy["labels"]["crf_min_kept"]) == (True, 0.5)


def test_missing_dataset_path_names_key_and_path(tmp_path):
    cfg = _load("config/voc2012.yaml")
    cfg["dataset"]["root"] = str(tmp_path / "no_such_voc")
    cfg["cam"]["pretrained"] = None
    r = dry_run(tmp_path, cfg)
    assert r.returncode != 0
    assert "dataset.root" in r.stderr + r.stdout and "no_such_voc" in r.stderr + r.stdout


def test_unknown_key_stops_the_run(tmp_path):
    cfg = _load("config/config.yaml")
    cfg["cam"]["epochz"] = 3
    r = dry_run(tmp_path, cfg)
    assert r.returncode != 0 and "epochz" in r.stderr + r.stdout


def test_missing_weights_file_is_a_clear_error(tmp_path):
    cfg = _load("config/config.yaml")
    cfg["cam"]["pretrained"] = str(tmp_path / "resnet.pth")
    r = dry_run(tmp_path, cfg)
    assert r.returncode != 0
    assert "cam.pretrained" in r.stderr + r.stdout and "resnet.pth" in r.stderr + r.stdout


def test_default_config_plans_every_stage(tmp_path):
    r = dry_run(tmp_path, _load("config/config.yaml"))
    assert r.returncode == 0, failed(r)
    for rule in (
        "prepare_toy",
        "train_cam",
        "make_cam",
        "eval_cam",
        "mine_relations",
        "train_irn",
        "infer_irn",
        "make_labels",
        "pseudo_coco",
        "baselines",
        "eval_pseudo",
        "summary",
    ):
        assert rule in r.stdout


def test_select_keeps_only_the_named_keys_sorted():
    from irn_core.config import ConfigError, select

    cfg = {"cam": {"lr": 0.1, "backbone": "r", "scales": [1, 2]}, "irn": {"radius": 5}, "threads": 2}
    got = select(cfg, "irn", "cam.scales", "cam.backbone")
    assert got == {"cam": {"backbone": "r", "scales": [1, 2]}, "irn": {"radius": 5}}
    assert list(got) == ["cam", "irn"] and list(got["cam"]) == ["backbone", "scales"]
    got["cam"]["scales"].append(3)  # a copy: the config is untouched
    assert cfg["cam"]["scales"] == [1, 2]
    with pytest.raises(ConfigError, match="config key cam.epochs: missing"):
        select(cfg, "cam.epochs")


def _errors(change):
    from irn_core.checks import check_config

    cfg = copy.deepcopy(_load("config/config.yaml"))
    change(cfg)
    return check_config(cfg)


@pytest.mark.parametrize(
    "change,needle",
    [
        (lambda c: c["irn"].update(init="imagenet"), "config key irn.init: 'imagenet' needs cam.pretrained"),
        (lambda c: c["maskrcnn"].update(init="imagenet"), "config key maskrcnn.init: 'imagenet' needs cam.pretrained"),
        (lambda c: c["deeplab"].update(init="imagenet"), "config key deeplab.init: 'imagenet' needs cam.pretrained"),
        (
            lambda c: c["relations"].update(fg_threshold=0.05, bg_threshold=0.3),
            "config key relations.fg_threshold: 0.05 must be above relations.bg_threshold",
        ),
        (
            lambda c: c["irn"].update(batch_size=c["toy"]["n_train"] + 1),
            "config key irn.batch_size: {n_plus_1} is above the {n} images",
        ),
        (lambda c: c["cam"].update(resize_long=[300, 200]), "config key cam.resize_long"),
        (lambda c: c["toy"].update(min_size=300), "config key toy.min_size"),
        (
            lambda c: c["labels"].update(crf=False),
            "config key labels.crf_min_kept: 0.5 has no effect without labels.crf",
        ),
    ],
)
def test_cross_setting_checks_name_the_key(change, needle):
    errors = _errors(change)
    n = _load("config/config.yaml")["toy"]["n_train"]
    needle = needle.replace("{n_plus_1}", str(n + 1)).replace("{n}", str(n))
    assert any(needle in e for e in errors), errors


def test_shipped_configs_pass_the_cross_setting_checks():
    assert _errors(lambda c: None) == []


def test_corrupt_weights_file_names_key_and_file(tmp_path):
    bad = tmp_path / "resnet.pth"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    errors = _errors(lambda c: c["cam"].update(pretrained=str(bad)))
    assert len(errors) == 1
    assert errors[0].startswith(f"config key cam.pretrained: weights file '{bad}' cannot be read as PyTorch weights")
    assert "weights_only" not in errors[0]


def test_voc_batch_size_checked_against_the_split_list(tmp_path):
    from irn_core.checks import check_config

    cfg = _load("config/voc2012.yaml")
    root = tmp_path / "voc"
    (root / "ImageSets/Segmentation").mkdir(parents=True)
    for name, n in (("train_aug", 10), ("train", 4), ("val", 3)):
        (root / f"ImageSets/Segmentation/{name}.txt").write_text("".join(f"2007_{i:06d}\n" for i in range(n)))
    cfg["dataset"]["root"] = str(root)
    cfg["cam"]["pretrained"] = None
    cfg["irn"]["init"] = "cam"
    errors = check_config(cfg)
    assert (
        "config key cam.batch_size: 16 is above the 10 images of dataset.train_list (every batch must be full)"
        in errors
    )


def test_imagenet_init_without_weights_stops_at_start_up(tmp_path):
    cfg = _load("config/config.yaml")
    cfg["irn"]["init"] = "imagenet"
    r = dry_run(tmp_path, cfg)
    assert r.returncode != 0
    assert "config key irn.init: 'imagenet' needs cam.pretrained" in r.stderr + r.stdout


def test_user_config_without_dataset_root_is_an_error(tmp_path):
    """A --configfile replaces the default config: a missing key is named, not taken from the toy run."""
    cfg = _load("config/config.yaml")
    del cfg["dataset"]["root"]
    r = dry_run(tmp_path, cfg)
    assert r.returncode != 0
    assert "'root' is a required property" in r.stderr + r.stdout
    assert "data/toy" not in r.stdout


def test_weights_file_is_an_input_of_the_rules_that_read_it(tmp_path):
    import torch

    from irn_core.models import build_backbone

    weights = tmp_path / "resnet_tiny.pth"
    torch.save(build_backbone("resnet_tiny").state_dict(), weights)
    cfg = _load("config/config.yaml")
    cfg["cam"]["pretrained"] = str(weights)
    cfg["deeplab"]["init"] = "imagenet"
    r = dry_run(tmp_path, cfg)
    assert r.returncode == 0, failed(r, 2000)
    inputs = dict(re.findall(r"^rule (\w+):\n    input: (.*)$", r.stdout, re.M))
    assert str(weights) in inputs["train_cam"] and str(weights) in inputs["train_deeplab"]
    assert str(weights) not in inputs["train_irn"]  # irn.init: cam


def test_imagenet_keyword_needs_a_backbone_with_torchvision_weights():
    errors = _errors(lambda c: c["cam"].update(pretrained="imagenet"))  # toy backbone: resnet_tiny
    assert errors == [
        "config key cam.pretrained: 'imagenet' has no weights for cam.backbone 'resnet_tiny' "
        "(those with weights: resnet50, resnet18)"
    ]
    assert _errors(lambda c: c["cam"].update(pretrained="imagenet", backbone="resnet18")) == []


def _job_resources(stdout: str, rule: str) -> list[dict]:
    """The resources Snakemake plans for each job of ``rule`` (dry run)."""
    out = []
    for block in re.findall(rf"^rule {rule}:\n((?:    .*\n)+)", stdout, re.M):
        line = re.search(r"^    resources: (.*)$", block, re.M).group(1)
        out.append(dict(kv.split("=", 1) for kv in line.split(", ")))
    return out


@pytest.mark.parametrize("device, gpu", [("cuda", "1"), ("cpu", "0")])
def test_resources_scale_with_the_images_of_a_job(tmp_path, device, gpu):
    """make_cam with shards: 2 reads half of the toy's train + eval images (the same list) per job: the table's
    seconds per image (measured on the CPU; divided by GPU_SPEEDUP on a GPU) on top of its fixed
    minutes; memory is the table's MB (at least 1000) plus its MB per megapixel of the largest
    image, which before the check is dataset.max_side squared, scaled to the tiny backbone
    (x 0.125). A GPU is asked for only by torch rules, and only when the device is cuda."""
    from irn_core.layout import GPU_SPEEDUP, JOBS

    cfg = _load("config/config.yaml")
    cfg.update(device=device, shards=2)
    r = dry_run(tmp_path, cfg)
    assert r.returncode == 0, failed(r, 2000)
    jobs = _job_resources(r.stdout, "make_cam")
    assert len(jobs) == 2
    job = JOBS["make_cam"]
    n = cfg["toy"]["n_train"]  # train and eval images both; half of the 2 x n per job
    seconds = job.seconds_per_image * n / (GPU_SPEEDUP if device == "cuda" else 1)
    side = cfg["dataset"].get("max_side", 1024)
    for res in jobs:
        assert res["runtime"] == str(int(job.minutes + seconds / 60))
        assert res["mem_mb"] == str(int(max(1000, job.mb * 0.125) + job.mb_per_megapixel * 0.125 * side * side / 1e6))
        assert res["gpu"] == gpu
    (eval_cam,) = _job_resources(r.stdout, "eval_cam")
    cost = JOBS["eval_cam"]
    assert "gpu" not in eval_cam and eval_cam["runtime"] == str(int(cost.minutes + cost.seconds_per_image * n / 60))
