"""Using what was learned: `irn predict` on new images with the tiny run's models, the model files a
user can hand on, and the snakemake predict target."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import failed, irn, load_config, snakemake
from PIL import Image

from irn_core.checkpoints import load_checkpoint
from irn_core.coco import rle_decode
from irn_core.predict import instance_id_map

ROOT = Path(__file__).resolve().parents[1]


def test_instance_id_map_gives_overlaps_to_the_higher_score():
    masks = np.zeros((3, 4, 5), bool)
    masks[0, :2] = True  # score 0.6
    masks[1, 1:3] = True  # score 0.9: wins row 1
    masks[2, 3, 4] = True
    ids = instance_id_map(masks, np.array([0.6, 0.9, 0.7]), (4, 5))
    assert ids.dtype == np.uint16 and ids[0].tolist() == [1] * 5 and ids[1].tolist() == [2] * 5
    assert ids[2].tolist() == [2] * 5 and ids[3].tolist() == [0, 0, 0, 0, 3]


@pytest.fixture(scope="module")
def odd_images(tiny_run, tmp_path_factory):
    """Two val images of the tiny run, and odd ones: very wide, very small, greyscale, PNG with alpha."""
    folder = tmp_path_factory.mktemp("new_images")
    val = [
        line.split()[0]
        for line in (tiny_run.parents[1] / "data/toy_tiny/ImageSets/Segmentation/val.txt").read_text().splitlines()[:2]
    ]
    for image_id in val:
        src = tiny_run.parents[1] / f"data/toy_tiny/JPEGImages/{image_id}.jpg"
        (folder / src.name).write_bytes(src.read_bytes())
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 400, 3), dtype=np.uint8)).save(folder / "wide.jpg")
    Image.fromarray(rng.integers(0, 255, (9, 7, 3), dtype=np.uint8)).save(folder / "small.png")
    Image.fromarray(rng.integers(0, 255, (80, 90), dtype=np.uint8), mode="L").save(folder / "grey.jpg")
    Image.fromarray(rng.integers(0, 255, (64, 70, 4), dtype=np.uint8), mode="RGBA").save(folder / "alpha.png")
    return folder, val


@pytest.mark.slow
def test_predict_writes_every_image_at_its_own_size(tiny_run, odd_images, tmp_path):
    folder, val = odd_images
    out = tmp_path / "pred"
    r = irn("predict", str(tiny_run), str(folder), "-o", str(out), "--score-threshold", "0.05", "--batch-size", "3")
    assert r.returncode == 0, failed(r, 3000)
    ids = sorted(p.stem for p in folder.iterdir())
    assert ids == sorted([*val, "wide", "small", "grey", "alpha"])
    sizes = {p.stem: Image.open(p).size for p in folder.iterdir()}  # (W, H)
    for image_id in ids:
        for kind in ("instances", "semantic"):
            with Image.open(out / f"{image_id}.{kind}.png") as png:
                assert png.size == sizes[image_id], (image_id, kind)
        with Image.open(out / f"{image_id}.semantic.png") as png:
            assert png.mode == "P" and max(np.asarray(png).ravel()) <= 4
    results = json.loads((out / "predictions.json").read_text())
    classes = load_checkpoint(tiny_run / "maskrcnn/pseudo/model.pt")["classes"]
    assert results and {p["image_id"] for p in results} <= set(ids)
    for p in results:
        assert p["class"] == classes[p["category_id"] - 1] and p["score"] > 0.05
        assert rle_decode(p["segmentation"]).shape == sizes[p["image_id"]][::-1]
    with h5py.File(out / "predictions.h5") as f:
        assert sorted(f) == ids and f.attrs["stage"] == "predict"
        for image_id in ids:  # the id map holds the JSON's instances of the image, in order
            n = len(f[image_id]["scores"])
            assert n == sum(p["image_id"] == image_id for p in results)
            assert f[image_id]["instances"][()].max() <= n
    r = irn("inspect", str(out / "predictions.h5"))
    assert r.returncode == 0 and "stage predict" in r.stdout and "instance id map" in r.stdout
    r = irn("show", str(out), val[0], "-o", str(tmp_path / "panel.png"))
    assert r.returncode == 0, failed(r)
    with Image.open(tmp_path / "panel.png") as im:
        assert im.width > 500


@pytest.mark.slow
def test_an_unreadable_image_is_named_and_the_others_are_predicted(tiny_run, odd_images, tmp_path):
    folder, val = odd_images
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    out = tmp_path / "pred"
    images = [str(folder / f"{val[0]}.jpg"), str(broken), str(folder / f"{val[1]}.jpg")]
    r = irn("predict", str(tiny_run), *images, "-o", str(out), "--model", "maskrcnn")
    assert r.returncode == 1
    assert f"{broken}: cannot decode image" in r.stderr and "1 image(s) not predicted" in r.stderr
    with h5py.File(out / "predictions.h5") as f:
        assert sorted(f) == sorted(val) and "label" not in f[val[0]]
    assert json.loads((out / "failures.json").read_text())[0].startswith(str(broken))


@pytest.mark.slow
def test_model_files_carry_what_a_user_needs(tiny_run):
    for rel, section in (("maskrcnn/pseudo/model.pt", "maskrcnn"), ("deeplab/model.pt", "deeplab")):
        state = load_checkpoint(tiny_run / rel)
        assert state["classes"] == ["disc", "square", "triangle", "star"]
        assert state["input"]["mean"] and state["input"]["std"] and "image" in state["input"]
        assert state["settings"][section]["epochs"] == 1 and len(state["settings_digest"]) == 16
        assert state["provenance"]["stage"] == f"train_{section}" and state["provenance"]["run_name"] == "tiny"
    assert load_checkpoint(tiny_run / "maskrcnn/pseudo/model.pt")["input"]["min_size"] == 112


def _readme_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    return re.search(r"<!-- hand-on snippet -->\n```python\n(.*?)```", text, re.S)[1]


@pytest.mark.slow
def test_the_readme_snippet_runs_with_torchvision_alone(tiny_run, tmp_path):
    """The README's snippet loads the tiny run's Mask R-CNN (TorchScript) without irn_core: a
    package of that name that cannot be imported shadows the real one."""
    blocker = tmp_path / "blocked"
    (blocker / "irn_core").mkdir(parents=True)
    (blocker / "irn_core" / "__init__.py").write_text("raise ImportError('irn_core is not installed here')\n")
    image = next((tiny_run.parents[1] / "data/toy_tiny/JPEGImages").iterdir())
    code = _readme_snippet().replace("results/toy_default", str(tiny_run))
    code = re.sub(r'"[^"]*\.jpg"', f'"{image}"', code, count=1)
    assert "irn_core" not in code
    env = dict(os.environ, PYTHONPATH=str(blocker))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, failed(r, 3000)
    # the same detections as the model built by irn_core
    from irn_core.predict import load_models, run_models

    models = load_models(run_models(tiny_run, "maskrcnn"), torch.device("cpu"))
    x = torch.from_numpy(np.array(Image.open(image).convert("RGB"))).permute(2, 0, 1).float() / 255
    with torch.no_grad():
        ours = models.maskrcnn([x])[0]
    printed = [line for line in r.stdout.splitlines() if line.strip()]
    assert len(printed) == int((ours["scores"] > 0.5).sum())


@pytest.mark.slow
def test_snakemake_predict_target(tiny_run, odd_images):
    folder, val = odd_images
    work = tiny_run.parents[1]
    cfg = load_config("tests/tiny.yaml")
    cfg["predict"]["images"] = str(folder)
    r = snakemake(work, cfg, "predict", "-n", name="predict")
    assert r.returncode == 0, failed(r, 2000)
    assert "rule predict:" in r.stdout and "rule train_maskrcnn" not in r.stdout  # the trained models serve
    r = snakemake(work, cfg, "predict", name="predict")
    assert r.returncode == 0, failed(r, 2000)
    out = tiny_run / "predict"
    assert sorted(p.stem.split(".")[0] for p in out.glob("*.semantic.png")) == sorted(p.stem for p in folder.iterdir())
