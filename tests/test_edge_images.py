"""Images without a foreground label, and images whose stride-4 map is smaller than the walk
radius, flow through every per-image stage (VOC code path, tiny settings). The run takes the
public implementation's options of config/voc2012.yaml where they are code paths of their own
(pair region, mean displacement over crops, 512-style padding, flip order, Detectron schedule,
multi-scale + CRF DeepLab inference)."""

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import failed, load_config, snakemake
from PIL import Image

from irn_core.cam import stage_cams
from irn_core.toy import TOY_CLASSES, ToySettings, write_toy_dataset
from irn_core.voc import save_palette_png

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def edge_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("edge")
    data = work / "voc"
    write_toy_dataset(data, ToySettings(n_train=24, n_val=4, seed=7, min_size=96, max_size=128))
    ids = (data / "ImageSets/Segmentation/train.txt").read_text().split()
    # an image whose annotation lists no object
    xml = data / f"Annotations/{ids[3]}.xml"
    xml.write_text(re.sub(r"<object>.*?</object>", "", xml.read_text(), flags=re.S))
    # a 36x32 px image: its stride-4 map (9x8) is smaller than the walk radius (10)
    small = ids[5]
    for folder, ext in (("JPEGImages", "jpg"), ("SegmentationClass", "png"), ("SegmentationObject", "png")):
        path = data / f"{folder}/{small}.{ext}"
        arr = np.array(Image.open(path))[:32, :36]
        if ext == "jpg":
            Image.fromarray(arr).save(path, quality=95)
        else:
            save_palette_png(path, arr)
    cfg = load_config("tests/tiny.yaml")
    cfg["dataset"].update(kind="voc", root=str(data), label_classes=list(TOY_CLASSES))
    cfg.pop("toy")
    cfg["propagate"]["radius"] = 10
    cfg["irn"].update(pairs_at_border=False, mean_shift="crops", infer_pad_to=160, flip_aligned=False)
    cfg["maskrcnn"].update(gt_upper_bound=False, iterations=8, lr_schedule="steps", lr_steps=[5], warmup_iters=2)
    cfg["deeplab"].update(test_scales=[1.0, 0.5], crf=True)
    r = snakemake(work, cfg, "pseudo_labels", "maskrcnn", "deeplab", timeout=900, name="edge")
    assert r.returncode == 0, failed(r, 4000)
    return work / "results/tiny", ids[3], small


@pytest.mark.slow
def test_label_less_image_flows_through(edge_run):
    out, empty, _ = edge_run
    manifest = json.loads((out / "dataset/train.json").read_text())
    assert any(f"image '{empty}' has no label among dataset.classes" in w for w in manifest["warnings"])
    assert "has no label among dataset.classes" in (out / "logs/check_dataset_train.log").read_text()
    with h5py.File(out / "cam/cams.h5") as f:
        assert f[empty]["keys"].shape == (0,) and stage_cams(f[empty], 1)[1].shape[0] == 0
    with h5py.File(out / "relations/relations.h5") as f:
        assert set(np.unique(f[empty]["label"][()])) <= {0, 255}  # background (or unsure) only
    with h5py.File(out / "labels/sem_pseudo.h5") as f:
        assert not f[empty]["label"][()].any()
    with h5py.File(out / "labels/ins_pseudo.h5") as f:
        assert f[empty]["scores"].shape == (0,)
    s = json.loads((out / "summary_pseudo_labels.json").read_text())
    assert 0 <= s["ins_pseudo"]["map50"] <= 1


@pytest.mark.slow
def test_image_smaller_than_the_walk_radius_flows_through(edge_run):
    out, _, small = edge_run
    with h5py.File(out / "labels/sem_pseudo.h5") as f:
        assert f[small]["label"].shape == (32, 36)
    with h5py.File(out / "labels/walk.h5") as f:  # the walk at stride 4
        assert f[small]["sem_walk"].shape[-2:] == (8, 9)


@pytest.mark.slow
def test_public_options_run_end_to_end(edge_run):
    out, _, _ = edge_run
    log = (out / "logs/train_irn.log").read_text()
    assert "mean displacement (crops)" in log
    m = json.loads((out / "summary_maskrcnn.json").read_text())
    assert 0 <= m["maskrcnn"]["map50"] <= 1 and "maskrcnn_gt" not in m
    # 8 iterations at 6 batches per epoch (24 images, batches of 4): the second epoch stops part way
    assert re.findall(r"train_maskrcnn: epoch (\d+)", (out / "logs/train_maskrcnn_pseudo.log").read_text()) == [
        "1",
        "2",
    ]
    d = json.loads((out / "summary_deeplab.json").read_text())
    assert 0 <= d["deeplab"]["miou"] <= 1
