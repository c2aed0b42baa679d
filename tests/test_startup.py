"""Start-up at any size: the workflow plans from a cached split index (irn_core.split_index), read
from the split files once and again only when one changes; a cluster job's parse reads no
annotation file; an edited image reruns the dataset check (and what follows) through its split's
stamp, an untouched dataset does not."""

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import failed, load_config, snakemake
from PIL import Image

from irn_core.checks import cuda_visible
from irn_core.split_index import SplitIndex
from irn_core.toy import TOY_CLASSES, ToySettings
from irn_core.voc import read_split

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from test_datasets import write_toy_coco  # noqa: E402


@pytest.fixture
def coco_run(tmp_path):
    """The tiny toy images in COCO layout and a config reading them (the tiny run's settings)."""
    data = tmp_path / "data"
    coco = write_toy_coco(data, ToySettings(n_train=16, n_val=4, seed=2, min_size=64, max_size=80))
    cfg = load_config("tests/tiny.yaml")
    cfg.pop("toy")
    cfg["run_name"] = "startup"
    cfg["dataset"].update(coco)
    path = tmp_path / "startup.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return tmp_path, path, cfg


def _snakemake(work, cfg_path, *args, under=None):
    """Run Snakemake in ``work``; (result, the JSON files opened under ``under`` (default: the
    dataset), by name and count)."""
    log = work / "opens.log"
    log.unlink(missing_ok=True)
    env = dict(
        os.environ,
        IRN_OPEN_LOG=str(log),
        IRN_OPEN_UNDER=str(under or work / "data"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "tests/opens"), os.environ.get("PYTHONPATH")])),
    )
    r = snakemake(work, cfg_path, *args, env=env)
    assert r.returncode == 0, failed(r, 3000)
    opened: dict[str, int] = {}
    for line in log.read_text().splitlines() if log.is_file() else []:
        name = Path(line.split("\t", 1)[1]).name
        if name.endswith(".json"):
            opened[name] = opened.get(name, 0) + 1
    return r, opened


def _planned(stdout: str) -> set[str]:
    return {line.split("rule ", 1)[1].rstrip(":") for line in stdout.splitlines() if line.startswith("rule ")}


@pytest.mark.slow
def test_split_files_are_read_once_then_only_when_they_change(coco_run):
    work, cfg_path, cfg = coco_run
    _, opened = _snakemake(work, cfg_path, "-n")
    assert opened == {"train.json": 1, "val.json": 1}  # the first parse builds the index (train = eval file)
    index = json.loads((work / "results/startup/dataset/index/splits.json").read_text())
    assert index["train"]["count"] == 16 and index["val"]["count"] == 4
    assert index["eval"]["first_ids"] == read_split(work / "data/ImageSets/Segmentation/train.txt")[:16]
    _, opened = _snakemake(work, cfg_path, "-n")
    assert opened == {}  # planned from the index alone
    # a cluster job parses the workflow again: from the index, no annotation file
    _, opened = _snakemake(work, cfg_path, "--mode", "remote", "-n", "results/startup/cam/cams.h5")
    assert opened == {}
    # a rewritten val file is read again, and only it
    val = work / "data/annotations/val.json"
    data = json.loads(val.read_text())
    data["images"] = data["images"][:3]
    val.write_text(json.dumps(data))
    _, opened = _snakemake(work, cfg_path, "-n")
    assert opened == {"val.json": 1}
    assert json.loads((work / "results/startup/dataset/index/splits.json").read_text())["val"]["count"] == 3


@pytest.mark.slow
def test_an_edited_image_reruns_the_check_of_its_split_only(coco_run):
    work, cfg_path, cfg = coco_run
    manifests = [f"results/startup/dataset/{s}.json" for s in ("train", "eval", "val")]
    _snakemake(work, cfg_path, *manifests)
    r, _ = _snakemake(work, cfg_path, "-n", *manifests)
    assert "check_dataset" not in _planned(r.stdout)
    # a val image rewritten in place (same name, same folder): the val check reruns, not train's
    val_id = read_split(work / "data/ImageSets/Segmentation/val.txt")[0]
    path = work / f"data/JPEGImages/{val_id}.jpg"
    img = np.array(Image.open(path))
    Image.fromarray(255 - img).save(path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # a later mtime, whatever the clock
    r, _ = _snakemake(work, cfg_path, "-n", *manifests)
    planned = [line.strip() for line in r.stdout.splitlines() if line.strip().startswith("wildcards: split=")]
    assert planned == ["wildcards: split=val"], r.stdout
    manifest = json.loads((work / "results/startup/dataset/train.json").read_text())
    assert manifest["images_per_second"] > 0 and manifest["largest"] == max(
        (rec["size"] for rec in manifest["images"].values()), key=lambda s: s[0] * s[1]
    )
    assert all(rec["file"] == f"JPEGImages/{i}.jpg" for i, rec in manifest["images"].items())


@pytest.mark.slow
def test_a_jobs_memory_reads_the_largest_image_beside_the_manifest_not_the_manifest(coco_run):
    """check_dataset writes each split's image count and largest image into a small file of its
    own; planning a job's memory reads that, never the manifest (10 MB at COCO size), and follows
    it: a larger image there plans make_cam (which reads train and eval) with more memory."""
    from irn_core import layout

    work, cfg_path, cfg = coco_run
    dataset = work / "results/startup/dataset"
    _snakemake(work, cfg_path, *[f"results/startup/dataset/{s}.json" for s in ("train", "eval", "val")])
    manifest = json.loads((dataset / "train.json").read_text())
    small = json.loads((dataset / "train.largest.json").read_text())
    assert small == {"split": "train_list", "images": 16, "largest": manifest["largest"]}

    def make_cam_mb():
        r, opened = _snakemake(work, cfg_path, "-n", "results/startup/cam/cams.h5", under=dataset)
        assert "train.json" not in opened and "eval.json" not in opened, opened
        assert opened.get("train.largest.json") and opened.get("eval.largest.json"), opened
        return {int(m) for m in re.findall(r"^    resources: .*\bmem_mb=(\d+)", r.stdout, re.M)}, r.stdout

    images = layout.job_images("make_cam", {"train": 16, "eval": 16, "val": 4}, cfg["shards"])

    def expected(h, w):
        return layout.job_mb("make_cam", images, cfg["cam"]["backbone"], 1, h * w / 1e6)

    planned, stdout = make_cam_mb()
    assert expected(*manifest["largest"]) in planned, stdout
    (dataset / "eval.largest.json").write_text(json.dumps({**small, "largest": [4000, 3000]}))
    planned, stdout = make_cam_mb()
    assert expected(4000, 3000) in planned and expected(4000, 3000) > expected(*manifest["largest"]), stdout


def test_the_index_reads_a_split_file_again_only_when_it_changes(toy_root, tmp_path):
    ds = {
        "kind": "voc",
        "root": str(toy_root),
        "classes": list(TOY_CLASSES),
        "label_classes": list(TOY_CLASSES),
        "train_list": "ImageSets/Segmentation/train.txt",
        "eval_list": "ImageSets/Segmentation/train.txt",
        "val_list": "ImageSets/Segmentation/val.txt",
    }
    first = SplitIndex(ds, tmp_path)
    assert len(first.reads) == 3 and first.count("train") == 40 and first.count("val") == 10
    stamps = first.refresh_stamps()
    mtimes = {s: first.stamp_file(s).stat().st_mtime_ns for s in stamps}
    again = SplitIndex(ds, tmp_path)
    assert again.reads == [] and again.entries == first.entries
    assert again.refresh_stamps() == stamps  # unchanged files: the stamps are not rewritten
    assert {s: again.stamp_file(s).stat().st_mtime_ns for s in stamps} == mtimes
    # another val list file: its entry is read again, the others are not
    (tmp_path / "val2.txt").write_text("\n".join(read_split(toy_root / ds["val_list"])[:4]) + "\n")
    moved = SplitIndex(dict(ds, val_list=str(tmp_path / "val2.txt")), tmp_path)
    assert moved.reads == [str(tmp_path / "val2.txt")] and moved.count("val") == 4
    # a cluster job (build=False) takes the cache as it is, stale or not, and writes nothing
    job = SplitIndex(ds, tmp_path, build=False)
    assert job.reads == [] and job.count("val") == 4


def test_cuda_is_seen_without_torch(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cuda_visible() is False
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert cuda_visible() is False
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert cuda_visible() == any(Path("/dev").glob("nvidia[0-9]*"))
