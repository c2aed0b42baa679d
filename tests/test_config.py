import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")


def _load(name):
    return yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", ["config/config.yaml", "config/voc2012.yaml", "tests/tiny.yaml"])
def test_shipped_configs_are_valid(name):
    validate(_load(name), SCHEMA)


@pytest.mark.parametrize("change,needle", [
    (lambda c: c.update(bogus=1), "bogus"),
    (lambda c: c["cam"].update(epochs="ten"), "ten"),
    (lambda c: c["cam"].update(backbone="vgg16"), "vgg16"),
    (lambda c: c["irn"].pop("radius"), "radius"),
    (lambda c: c["dataset"].update(kind="coco"), "coco"),
    (lambda c: c["irn"].update(crop_size=100), "100"),
    (lambda c: c.update(mixed_precision="fp8"), "fp8"),
    (lambda c: c.pop("channels_last"), "channels_last"),
])
def test_schema_rejects_bad_configs(change, needle):
    cfg = copy.deepcopy(_load("config/config.yaml"))
    change(cfg)
    with pytest.raises(Exception, match=needle):
        validate(cfg, SCHEMA)


def _dry_run(tmp_path, cfg):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
                           "--configfile", str(path), "-n", "--cores", "1"], capture_output=True, text=True)


def test_missing_dataset_path_names_key_and_path(tmp_path):
    cfg = _load("config/voc2012.yaml")
    cfg["dataset"]["root"] = str(tmp_path / "no_such_voc")
    cfg["cam"]["pretrained"] = None
    r = _dry_run(tmp_path, cfg)
    assert r.returncode != 0
    assert "dataset.root" in r.stderr + r.stdout and "no_such_voc" in r.stderr + r.stdout


def test_unknown_key_stops_the_run(tmp_path):
    cfg = _load("config/config.yaml")
    cfg["cam"]["epochz"] = 3
    r = _dry_run(tmp_path, cfg)
    assert r.returncode != 0 and "epochz" in r.stderr + r.stdout


def test_missing_weights_file_is_a_clear_error(tmp_path):
    cfg = _load("config/config.yaml")
    cfg["cam"]["pretrained"] = str(tmp_path / "resnet.pth")
    r = _dry_run(tmp_path, cfg)
    assert r.returncode != 0
    assert "cam.pretrained" in r.stderr + r.stdout and "resnet.pth" in r.stderr + r.stdout


def test_default_config_plans_every_stage(tmp_path):
    r = _dry_run(tmp_path, _load("config/config.yaml"))
    assert r.returncode == 0, r.stderr
    for rule in ("prepare_toy", "train_cam", "make_cam", "eval_cam", "mine_relations", "train_irn", "infer_irn",
                 "propagate", "make_instances", "baselines", "eval_pseudo", "summary"):
        assert rule in r.stdout
