"""The workflow at full size: start-up, the dataset check, per-stage cost, memory against image
count, disk per image, and projections for PASCAL VOC train_aug and COCO train2014.

Nothing is downloaded. ``generate`` writes synthetic annotation sets of the real sizes:
- coco: COCO 2014's 82,783 train + 40,504 val image entries (sizes near 640 x 480), about 7
  polygon annotations per image, the 80 categories with COCO's ids (1-90 with gaps), an empty file
  for every image (start-up and the check's file stamps read no pixel);
- voc: VOC 2012 train_aug's 10,582 ids (the first 1,464 as train.txt, the eval split) and val's
  1,449, with empty JPEG, XML and PNG files.

Parts (``--part``; all by default), each writing its section of benchmarks/results.json:
- startup: ``snakemake pseudo_labels -n`` on each set with ``shards: 16``, twice (the first builds
  the split index), and a cluster job's parse (``--mode remote``, one shard's target): seconds, peak
  RSS and the annotation files opened (an audit hook, tests/opens/). ``--code DIR`` measures the
  checkout in DIR instead (e.g. a worktree of an older commit, for the before column).
- check: check_dataset's images per second on real 500 x 375 JPEGs (with their XML), 1 and 2 threads.
- stages: the pipeline on 50 toy images of 500 x 375 with ResNet-50 (random weights, one epoch
  per training): seconds and peak MB per stage from Snakemake's benchmark files, per image; the
  kept stage files' bytes per image.
- memory: the per-image stages' peak RSS at 100 and at 2,000 toy images (resnet_tiny).
- storage (``--old-run``): the current per-image stages on the models of a default toy run made by
  an older checkout: CAMs and pseudo labels compared element for element, bytes per train image of
  every stage file, old and new, kept and at the peak.
- project: wall time, GPU hours and disk for VOC train_aug and COCO train2014 at 1, 8 and 64 jobs
  from the stage figures.

Usage: python benchmarks/bench_scale.py [--part startup check stages memory project] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import snakemake_cmd, snakemake_error, update_results

ROOT = Path(__file__).resolve().parents[1]
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
SIZES = {"coco": {"train": 82_783, "val": 40_504}, "voc": {"train": 10_582, "val": 1_449}}


# ---- synthetic annotation sets ------------------------------------------------------------------
def _polygon(rng: random.Random, w: int, h: int) -> list[float]:
    cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(5, min(w, h) / 4)
    n = rng.randint(8, 40)
    pts = []
    for k in range(n):
        a = 6.283185 * k / n
        rr = r * rng.uniform(0.6, 1.0)
        pts += [round(min(max(cx + rr * math.cos(a), 0), w - 1), 2)]
        pts += [round(min(max(cy + rr * math.sin(a), 0), h - 1), 2)]
    return pts


def coco_json(n: int, prefix: str, classes: list[str], seed: int) -> dict:
    rng = random.Random(seed)
    images, anns = [], []
    for i in range(1, n + 1):
        w, h = rng.choice([(640, 480), (640, 427), (480, 640), (500, 375), (640, 426), (612, 612)])
        images.append({"id": i, "file_name": f"COCO_{prefix}_{i:012d}.jpg", "height": h, "width": w})
        for _ in range(max(0, int(rng.gauss(7.3, 4)))):
            seg = _polygon(rng, w, h)
            xs, ys = seg[0::2], seg[1::2]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": rng.choice(COCO_IDS),
                    "segmentation": [seg],
                    "area": round((max(xs) - min(xs)) * (max(ys) - min(ys)) * 0.6, 2),
                    "bbox": [min(xs), min(ys), round(max(xs) - min(xs), 2), round(max(ys) - min(ys), 2)],
                    "iscrowd": 0,
                }
            )
    cats = [{"id": cid, "name": name, "supercategory": "thing"} for cid, name in zip(COCO_IDS, classes)]
    return {"images": images, "annotations": anns, "categories": cats}


def generate(work: Path, code: Path = ROOT, label: str = "after") -> dict[str, Path]:
    """The synthetic sets under ``work`` (made once) and a config for each, from the configs of
    the checkout ``code``."""
    classes = yaml.safe_load((ROOT / "config/coco2014.yaml").read_text())["dataset"]["classes"]
    configs = {}
    coco = work / "coco"
    if not (coco / "annotations/instances_val2014.json").is_file():
        (coco / "annotations").mkdir(parents=True, exist_ok=True)
        for split, prefix, seed in (("train", "train2014", 0), ("val", "val2014", 1)):
            data = coco_json(SIZES["coco"][split], prefix, classes, seed)
            folder = coco / prefix
            folder.mkdir(exist_ok=True)
            for im in data["images"]:
                (folder / im["file_name"]).touch()
            tmp = coco / f"annotations/.instances_{prefix}.json.tmp"
            tmp.write_text(json.dumps(data))
            tmp.replace(coco / f"annotations/instances_{prefix}.json")
    cfg = yaml.safe_load((code / "config/coco2014.yaml").read_text())
    cfg["dataset"]["root"] = str(coco)
    configs["coco"] = cfg
    voc = work / "voc"
    if not (voc / "ImageSets/Segmentation/val.txt").is_file():
        folders = ("JPEGImages", "Annotations", "SegmentationClass", "SegmentationObject", "ImageSets/Segmentation")
        for folder in folders:
            (voc / folder).mkdir(parents=True, exist_ok=True)
        rng = random.Random(2)
        ids = {s: [f"20{rng.randint(7, 12):02d}_{k:06d}" for k in range(n)] for s, n in SIZES["voc"].items()}
        ids["val"] = [f"v{i}" for i in ids["val"]]
        for names in ids.values():
            for i in names:
                for folder, ext in (("JPEGImages", "jpg"), ("Annotations", "xml")):
                    (voc / folder / f"{i}.{ext}").touch()
        ids["eval"] = ids["train"][:1_464]  # train.txt: the ids with segmentation masks
        for i in ids["eval"] + ids["val"]:
            for folder in ("SegmentationClass", "SegmentationObject"):
                (voc / folder / f"{i}.png").touch()
        for split, name in (("train", "train_aug"), ("eval", "train"), ("val", "val")):
            (voc / f"ImageSets/Segmentation/{name}.txt").write_text("\n".join(ids[split]) + "\n")
    cfg = yaml.safe_load((code / "config/voc2012.yaml").read_text())
    cfg["dataset"]["root"] = str(voc)
    configs["voc"] = cfg
    paths = {}
    for name, cfg in configs.items():
        cfg["shards"] = 16
        cfg.setdefault("cam", {})["pretrained"] = None  # no weights file here
        for section in ("irn", "maskrcnn", "deeplab"):
            cfg.setdefault(section, {})["init"] = "cam"
        paths[name] = work / f"{name}_{label}.yaml"
        paths[name].write_text(yaml.safe_dump(cfg))
    return paths


# ---- start-up ----------------------------------------------------------------------------------
def _measured(cmd: list[str], cwd: Path, env: dict, opens: Path, under: Path) -> dict:
    """Wall seconds, peak RSS (MB) of the process tree and annotation files opened by ``cmd``."""
    opens.unlink(missing_ok=True)
    env = dict(env, IRN_OPEN_LOG=str(opens), IRN_OPEN_UNDER=str(under))
    t = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")  # stderr: time's too
    peak_kb = int(r.stderr.strip().splitlines()[-1])
    lines = opens.read_text().splitlines() if opens.is_file() else []
    reads = [p.split("\t", 1)[1] for p in lines if p.split("\t", 1)[1].endswith((".json", ".txt"))]
    return {"seconds": round(seconds, 2), "peak_mb": round(peak_kb / 1024), "annotation_reads": len(reads)}


def startup(work: Path, code: Path, label: str) -> dict:
    """Dry runs and a job's parse on both synthetic sets with the checkout ``code``."""
    configs = generate(work, code, label)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tests/opens"), str(code)]))
    out = {}
    for name, cfg_path in configs.items():
        run_dir = work / f"run_{name}_{label}"
        shutil.rmtree(run_dir, ignore_errors=True)  # the first invocation builds the index afresh
        run_dir.mkdir()
        cfg = yaml.safe_load(cfg_path.read_text())
        base = snakemake_cmd(run_dir, cfg_path, cores=8, code=code)
        under = Path(cfg["dataset"]["root"])
        row = {}
        for when in ("first", "again"):
            row[f"dry_run_{when}"] = _measured(base + ["pseudo_labels", "-n"], run_dir, env, work / "opens.log", under)
            print(name, label, when, row[f"dry_run_{when}"], flush=True)
        shard = f"results/{cfg['run_name']}/cam/shards/cams.3.h5"
        job = [*base, "--mode", "remote", shard, "-n"]
        try:
            row["job_parse"] = _measured(job, run_dir, env, work / "opens.log", under)
        except RuntimeError as err:
            row["job_parse"] = {"error": str(err)[-300:]}
        print(name, label, "job", row["job_parse"], flush=True)
        out[name] = row
    return out


# ---- the dataset check's throughput ------------------------------------------------------------------
def check_throughput(work: Path, n: int = 200) -> dict:
    """check_dataset on ``n`` toy images of about 500 x 375 (JPEG, XML, no masks: a train split),
    images per second with 1 and 2 threads."""
    from irn_core.stages.data import check_dataset
    from irn_core.toy import TOY_CLASSES, ToySettings, write_toy_dataset

    data = work / "data/check"
    if not (data / "ImageSets/Segmentation/train.txt").is_file():
        write_toy_dataset(data, ToySettings(n_train=n, n_val=1, seed=0, min_size=375, max_size=500))
    cfg = {
        "run_name": "check",
        "dataset": {
            "kind": "voc",
            "root": str(data),
            "classes": list(TOY_CLASSES),
            "label_classes": list(TOY_CLASSES),
            "train_list": "ImageSets/Segmentation/train.txt",
        },
        "cam": {"scales": [1.0, 0.5, 1.5, 2.0]},
    }
    out = {}
    for threads in (1, 2):
        m = check_dataset(cfg, "train_list", str(work / f"check_{threads}.json"), threads=threads)
        out[str(threads)] = {"images": len(m["ids"]), "images_per_second": m["images_per_second"]}
    return out


# ---- per-stage cost at 500 x 375 with ResNet-50 ---------------------------------------------------
PER_IMAGE = ("make_cam", "mine_relations", "infer_irn", "random_walk", "make_labels", "baselines")
TRAINING = ("train_cam", "train_irn", "train_maskrcnn_pseudo", "train_deeplab")
KEPT = ("cam/cams.h5", "relations/relations.h5", "labels/walk.h5", "labels/sem_pseudo.h5", "labels/ins_pseudo.h5")
KEPT_ALL = KEPT + ("labels/baseline_cc.h5", "labels/baseline_sem_cc.h5")


def _run_workflow(work: Path, cfg: dict, *targets: str, extra: tuple[str, ...] = ()) -> Path:
    path = work / f"{cfg['run_name']}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = subprocess.run(snakemake_cmd(work, path, *targets, *extra), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(snakemake_error(r, 4000))
    return work / "results" / cfg["run_name"]


def _benchmarks(run: Path) -> dict[str, dict]:
    """Seconds and peak RSS (MB) of each job of a run, from Snakemake's benchmark files."""
    out = {}
    for tsv in sorted((run / "benchmarks").glob("*.tsv")):
        head, row = tsv.read_text().splitlines()[:2]
        values = dict(zip(head.split("\t"), row.split("\t")))
        out[tsv.stem] = {"s": float(values["s"]), "peak_mb": float(values["max_rss"])}
    return out


def _kept_bytes(run: Path, files=KEPT_ALL) -> dict[str, int]:
    return {rel: (run / rel).stat().st_size for rel in files if (run / rel).is_file()}


def _r50_config(n_train: int, n_val: int, run_name: str) -> dict:
    """The toy set at about 500 x 375 through the paper's settings (the schema's defaults), ResNet-50
    with random weights, one epoch per training; the supervised models' batches at 4 images (CPU)."""
    return {
        "run_name": run_name,
        "threads": 2,
        "num_workers": 0,
        "dataset": {
            "kind": "toy",
            "root": f"data/{run_name}",
            "classes": ["disc", "square", "triangle", "star"],
            "train_list": "ImageSets/Segmentation/train.txt",
            "eval_list": "ImageSets/Segmentation/train.txt",
            "val_list": "ImageSets/Segmentation/val.txt",
        },
        "toy": {"n_train": n_train, "n_val": n_val, "seed": 0, "min_size": 375, "max_size": 500},
        "cam": {"backbone": "resnet50", "pretrained": None, "epochs": 1},
        "irn": {"init": "cam", "epochs": 1},
        "maskrcnn": {"init": "cam", "epochs": 1, "iterations": None, "batch_size": 4, "gt_upper_bound": False},
        "deeplab": {"init": "cam", "epochs": 1, "batch_size": 4},
        "diagnostics": {"images": 10},
    }


def stages(work: Path, images: int = 50) -> dict:
    """The whole DAG on ``images`` toy images of about 500 x 375 with ResNet-50."""
    cfg = _r50_config(images, 10, "scale_r50")
    run = _run_workflow(work, cfg, "all")
    jobs = _benchmarks(run)
    manifest = json.loads((run / "dataset/train.json").read_text())
    pixels = [h * w for h, w in (rec["size"] for rec in manifest["images"].values())]
    rows = {}
    for job, b in jobs.items():
        n = images if job in PER_IMAGE or job in TRAINING or job.startswith("check_dataset") else None
        rows[job] = {**b, "s_per_image": round(b["s"] / n, 3) if n else None}
    kept = _kept_bytes(run)
    return {
        "images": images,
        "mean_pixels": round(sum(pixels) / len(pixels)),
        "jobs": rows,
        "kept_bytes_per_image": {k: round(v / images) for k, v in kept.items()},
        "kept_bytes_per_image_total": round(sum(kept.values()) / images),
        "note": "one epoch per training on 2 CPU threads; s_per_image of a training is per image-epoch",
    }


# ---- peak memory against image count ------------------------------------------------------------------
def _tiny_config(n_train: int, run_name: str) -> dict:
    cfg = yaml.safe_load((ROOT / "tests/tiny.yaml").read_text())
    cfg["run_name"] = run_name
    cfg["dataset"]["root"] = f"data/{run_name}"
    cfg["toy"] = dict(cfg["toy"], n_train=n_train, n_val=8)
    cfg["diagnostics"] = {"images": 100}  # the oracle diagnostics on at most 100 images at any count
    return cfg


def memory(work: Path, counts=(100, 2000), extra: tuple[str, ...] = ()) -> dict:
    """Peak RSS of each per-image stage (and the evaluations) on the tiny settings at each count."""
    out = {}
    for n in counts:
        run = _run_workflow(work, _tiny_config(n, f"scale_mem_{n}"), "pseudo_labels", extra=extra)
        jobs = _benchmarks(run)
        out[str(n)] = {job: b["peak_mb"] for job, b in jobs.items()}
        out[f"{n}_bytes_per_image"] = round(sum(_kept_bytes(run).values()) / n)
        print(n, out[str(n)], flush=True)
    return out


def big_photo(work: Path) -> dict:
    """One 4000 x 3000 photo in the eval split of the tiny data: each stage's peak RSS, with the
    default dataset.max_side and without a limit."""
    import numpy as np
    from PIL import Image

    from irn_core.toy import TOY_CLASSES, ToySettings, _xml, write_toy_dataset
    from irn_core.voc import save_palette_png

    data = work / "data/big_photo"
    if not (data / "ImageSets/Segmentation/train.txt").is_file():
        write_toy_dataset(data, ToySettings(n_train=32, n_val=8, seed=1, min_size=96, max_size=128))
        rng = np.random.default_rng(0)
        h, w = 3000, 4000
        yy, xx = np.mgrid[:h, :w]
        disc = (yy - 1500) ** 2 + (xx - 2000) ** 2 < 900**2
        img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        img[disc] = (220, 60, 40)
        Image.fromarray(img).save(data / "JPEGImages/big_000001.jpg", quality=90)
        save_palette_png(data / "SegmentationClass/big_000001.png", disc.astype(np.uint8))
        save_palette_png(data / "SegmentationObject/big_000001.png", disc.astype(np.uint8))
        inst = disc.astype(np.uint8)
        (data / "Annotations/big_000001.xml").write_text(_xml("big_000001", h, w, inst, [0]))  # one disc
        with open(data / "ImageSets/Segmentation/train.txt", "a") as fh:
            fh.write("big_000001\n")
    out = {}
    for max_side in (1024, None):
        cfg = _tiny_config(33, f"scale_big_{max_side}")
        cfg.pop("toy")
        cfg["dataset"].update(kind="voc", root=str(data), label_classes=list(TOY_CLASSES), max_side=max_side)
        try:
            run = _run_workflow(work, cfg, "pseudo_labels")
            out[str(max_side)] = {job: b["peak_mb"] for job, b in _benchmarks(run).items()}
            labels = json.loads((run / "labels/eval.json").read_text())  # the eval split, the photo in it
            out[f"{max_side}_labels"] = {
                "sem_miou": round(labels["sem_pseudo"]["miou"], 4),
                "ins_map50": round(labels["ins_pseudo"]["map50"], 4),
            }
        except RuntimeError as err:
            out[str(max_side)] = {"error": str(err)[-500:]}
        print(max_side, out[str(max_side)], flush=True)
    return out


# ---- the stored files of the default toy run against an older checkout's ---------------------------
def _same_arrays(a, b, only_a: set, by_name: dict) -> tuple[int, int]:
    """(arrays compared, elements that differ) over the datasets of two HDF5 groups, recursively;
    the names of datasets only ``a`` has go into ``only_a``; ``by_name``: per dataset name, the
    elements that differ and their largest absolute difference."""
    import h5py
    import numpy as np

    n = differ = 0
    for key, item in a.items():
        if key not in b:
            only_a.add(key)
        elif isinstance(item, h5py.Group):
            m, d = _same_arrays(item, b[key], only_a, by_name)
            n, differ = n + m, differ + d
        else:
            x, y = item[()], b[key][()]
            n += 1
            row = by_name.setdefault(key, {"differing_elements": 0, "max_abs_difference": 0.0})
            if np.shape(x) != np.shape(y):
                d = int(np.size(x))
            else:
                d = int(np.count_nonzero(x != y))
                if d:
                    gap = float(np.abs(x.astype(np.float64) - y.astype(np.float64)).max())
                    row["max_abs_difference"] = max(row["max_abs_difference"], gap)
            row["differing_elements"] += d
            differ += d
    return n, differ


_outputs = {
    "make_cam": lambda f: [f["cams.h5"]],
    "infer_irn": lambda f: [f["irn_out.h5"]],
    "random_walk": lambda f: [f["walk.h5"]],
    "make_labels": lambda f: [f["sem_pseudo.h5"], f["ins_pseudo.h5"]],
    "baselines": lambda f: [f["baseline_cc.h5"], f["baseline_sem_cc.h5"]],
}


def storage(work: Path, old_run: Path, reuse: bool = False) -> dict:
    """The per-image stages of the current code on the models of a finished default toy run of an
    older checkout (``old_run``: its ``cam/model.pt``, ``irn/model.pt``, config and dataset): the
    CAMs as the readers see them (stride 4 and full resolution) and the pseudo labels compared with
    the old run's, element for element; the bytes per train image of every stage file, old and new.
    ``reuse``: keep the stage files a previous call wrote (written whole or not at all)."""
    import h5py
    import numpy as np
    from snakemake.utils import validate

    from irn_core.cam import stage_cams
    from irn_core.io import open_stage
    from irn_core.stages.cam import make_cam
    from irn_core.stages.irnet import infer_irn
    from irn_core.stages.labels import baselines, make_labels, random_walk

    cfg = yaml.safe_load(old_run.with_suffix(".yaml").read_text())
    root = Path(cfg["dataset"]["root"])
    cfg["dataset"]["root"] = str(root if root.is_absolute() else old_run.parents[1] / root)
    cfg["dataset"]["max_side"] = None  # as the old code read them (the toy images are below 1024)
    cfg["num_workers"] = 0
    cfg.pop("maskrcnn", None)  # not read here; older keys the schema no longer has
    validate(cfg, str(ROOT / "workflow/schemas/config.schema.yaml"))  # the defaults of newer keys
    new = work / "storage"
    new.mkdir(parents=True, exist_ok=True)
    names = ("cams.h5", "irn_out.h5", "walk.h5", "sem_pseudo.h5", "ins_pseudo.h5")
    names += ("baseline_cc.h5", "baseline_sem_cc.h5")
    files = {k: str(new / k) for k in names}
    seconds = {}
    for name, run in (
        ("make_cam", lambda: make_cam(cfg, str(old_run / "cam/model.pt"), files["cams.h5"])),
        ("infer_irn", lambda: infer_irn(cfg, str(old_run / "irn/model.pt"), files["irn_out.h5"])),
        ("random_walk", lambda: random_walk(cfg, files["cams.h5"], files["irn_out.h5"], files["walk.h5"])),
        ("make_labels", lambda: make_labels(cfg, files["walk.h5"], files["sem_pseudo.h5"], files["ins_pseudo.h5"])),
        (
            "baselines",
            lambda: baselines(
                cfg, files["cams.h5"], files["walk.h5"], files["baseline_cc.h5"], files["baseline_sem_cc.h5"]
            ),
        ),
    ):
        if reuse and all(Path(f).is_file() for f in _outputs[name](files)):
            continue
        t = time.perf_counter()
        run()
        seconds[name] = round(time.perf_counter() - t, 1)
        print(name, seconds[name], flush=True)
    # the CAMs as every reader gets them, against the old file's stored arrays
    cam_arrays = cam_differ = 0
    cam_gap = 0.0
    pixels, classes = [], []
    with h5py.File(old_run / "cam/cams.h5") as old, open_stage(files["cams.h5"]) as cams:
        for image_id in old:
            keys, cam = stage_cams(cams[image_id], 4)
            _, high = stage_cams(cams[image_id], 1)
            pixels.append(high.shape[1] * high.shape[2])
            classes.append(len(keys))
            g = old[image_id]
            for x, y in ((keys, g["keys"][()]), (cam, g["cam_s4"][()]), (high, g["cam_full"][()])):
                cam_arrays += 1
                if np.shape(x) != np.shape(y):
                    cam_differ += int(np.size(x))
                elif (x != y).any():
                    cam_differ += int(np.count_nonzero(x != y))
                    cam_gap = max(cam_gap, float(np.abs(x.astype(np.float64) - y).max()))
    labels = {}
    for name in ("sem_pseudo.h5", "ins_pseudo.h5", "baseline_cc.h5", "baseline_sem_cc.h5"):
        with h5py.File(old_run / "labels" / name) as old, h5py.File(files[name]) as cur:
            only_old, by_name = set(), {}
            n, d = _same_arrays(old, cur, only_old, by_name)
            labels[name] = {"images": len(old), "arrays": n, "differing_elements": d, "by_dataset": by_name}
            labels[name]["only_before"] = sorted(only_old)
    n_train = int(cfg["toy"]["n_train"])
    old_files = ["cam/cams.h5", "relations/relations.h5", "irn/irn_out.h5", "labels/sem_pseudo.h5"]
    old_files += ["labels/ins_pseudo.h5", "labels/baseline_cc.h5", "labels/baseline_sem_cc.h5"]
    old_bytes = {f: (old_run / f).stat().st_size for f in old_files if (old_run / f).is_file()}
    # kept now: the relation file is unchanged in format (not remade here); irn_out.h5 is temporary
    new_bytes = {"relations/relations.h5": old_bytes["relations/relations.h5"]}
    for f in ("cams.h5", "walk.h5", "sem_pseudo.h5", "ins_pseudo.h5", "baseline_cc.h5", "baseline_sem_cc.h5"):
        new_bytes[("cam/" if f == "cams.h5" else "labels/") + f] = Path(files[f]).stat().st_size
    peak_extra = Path(files["irn_out.h5"]).stat().st_size  # lives from infer_irn until random_walk ends
    # the public code's files of the same images: its CAM .npy (stride 4 and full resolution, float32),
    # semantic PNGs and instance .npy (boolean masks), as export_public writes them
    from irn_core.stages.export import export_public

    public = new / "public"
    if not (reuse and public.is_dir()):
        export_public(cfg, files["cams.h5"], files["sem_pseudo.h5"], files["ins_pseudo.h5"], str(public))
    public_bytes = {}
    for d in ("cam", "sem_seg", "ins_seg"):
        public_bytes[f"{d}/"] = sum(f.stat().st_size for f in (public / d).iterdir())
    return {
        "old_run": str(old_run),
        "train_images": n_train,
        "seconds": seconds,
        "cams": {"arrays": cam_arrays, "differing_elements": cam_differ, "max_abs_difference": cam_gap},
        "labels": labels,
        "old_bytes_per_train_image": {k: round(v / n_train) for k, v in old_bytes.items()},
        "old_kb_per_train_image": round(sum(old_bytes.values()) / n_train / 1000, 1),
        "new_bytes_per_train_image": {k: round(v / n_train) for k, v in sorted(new_bytes.items())},
        "new_kb_per_train_image": round(sum(new_bytes.values()) / n_train / 1000, 1),
        "peak_kb_per_train_image": round((sum(new_bytes.values()) + peak_extra) / n_train / 1000, 1),
        "public_bytes_per_train_image": {k: round(v / n_train) for k, v in public_bytes.items()},
        "mean_pixels": round(float(np.mean(pixels))),
        "mean_classes": round(float(np.mean(classes)), 3),
    }


# ---- projections -------------------------------------------------------------------------------------
def project(stage_rows: dict, startup_rows: dict | None, storage_rows: dict | None) -> dict:
    """Wall time, device hours and disk for VOC train_aug and COCO train2014 at 1, 8 and 64 jobs
    through the pseudo labels, from the per-image figures (CPU here, 2 threads). Training does not
    split into jobs (one job each; several GPUs through train_processes are not counted), per-image
    stages divide among the jobs, each of which pays a fixed start (a cluster job's parse). GPU
    hours: the torch stages' CPU hours / layout.GPU_SPEEDUP (assumed, not measured). Disk: the
    default toy run's bytes per pixel (``storage``; the 500 x 375 sample's random weights find no
    instances) at 500 x 375 (VOC) and 640 x 480 (COCO)."""
    from irn_core.layout import GPU_SPEEDUP, JOBS

    jobs = stage_rows["jobs"]
    per_image = {j: jobs[j]["s_per_image"] for j in PER_IMAGE if j in jobs}
    train = {j: jobs[j]["s_per_image"] for j in TRAINING if j in jobs}
    parse = (startup_rows or {}).get("coco", {}).get("job_parse", {}).get("seconds", 5.0)
    st = storage_rows or {}
    per_pixel = {k: st[f"{k}_kb_per_train_image"] * 1000 / st["mean_pixels"] for k in ("new", "peak")} if st else {}
    # eval lists are subsets of the train lists (VOC's train.txt of train_aug; COCO: the whole set)
    sets = {
        "voc_train_aug": {"train": 10_582, "eval": 1_464, "pixels": 500 * 375},
        "coco_train2014": {"train": 82_783, "eval": 82_783, "pixels": 640 * 480},
    }
    epochs = {"train_cam": 5, "train_irn": 3}
    out = {}
    for name, s in sets.items():
        count = {j: s["eval"] if j == "baselines" else s["train"] for j in per_image}
        training = sum(train.get(j, 0) * s["train"] * e for j, e in epochs.items())
        on_torch = sum(per_image[j] * count[j] for j in per_image if JOBS[j].torch)
        on_cpu = sum(per_image[j] * count[j] for j in per_image if not JOBS[j].torch)
        start = parse * len(per_image)
        rows = {}
        for n in (1, 8, 64):
            rows[str(n)] = {
                "cpu_wall_hours": round((training + (on_torch + on_cpu) / n + start) / 3600, 1),
                "gpu_wall_hours": round(
                    (training / GPU_SPEEDUP + (on_torch / GPU_SPEEDUP + on_cpu) / n + start) / 3600, 1
                ),
            }
        hours = {
            "cpu_hours": round((training + on_torch + on_cpu) / 3600, 1),
            "gpu_hours": round((training + on_torch) / GPU_SPEEDUP / 3600, 1),
            "cpu_hours_beside": round(on_cpu / 3600, 1),
        }
        out[name] = {
            "images": s["train"],
            "through_pseudo_labels": rows,
            **hours,
            "kept_gb": round(per_pixel.get("new", 0) * s["pixels"] * s["train"] / 1e9, 1),
            "peak_gb": round(per_pixel.get("peak", 0) * s["pixels"] * s["train"] / 1e9, 1),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", nargs="+", default=["startup", "check", "stages", "memory", "project"])
    ap.add_argument("--work", default="/tmp/irn_scale", help="where the synthetic sets and runs go")
    ap.add_argument("--code", default=str(ROOT), help="the checkout whose workflow start-up is measured")
    ap.add_argument("--label", default="after", help="name of this checkout's column (before/after)")
    ap.add_argument(
        "--keep-jobs",
        action="store_true",
        help="memory: keep the finished jobs of earlier runs whatever changed since (--rerun-triggers mtime)",
    )
    ap.add_argument("--reuse", action="store_true", help="storage: keep the stage files of a previous call")
    ap.add_argument("--old-run", help="storage: a finished default toy run of an older checkout (results/<run>)")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = json.loads((Path(__file__).with_name("results.json")).read_text()).get("scale", {})
    if "startup" in args.part:
        results.setdefault("startup", {})[args.label] = startup(work, Path(args.code).resolve(), args.label)
        update_results("scale", results)
    if "check" in args.part:
        results["check"] = check_throughput(work)
        update_results("scale", results)
    if "stages" in args.part:
        results["stages"] = stages(work)
        update_results("scale", results)
    if "memory" in args.part:
        results["memory"] = memory(work, extra=("--rerun-triggers", "mtime") if args.keep_jobs else ())
        results["big_photo"] = big_photo(work)
        update_results("scale", results)
    if "storage" in args.part:
        results["storage"] = storage(work, Path(args.old_run), args.reuse)
        update_results("scale", results)
    if "project" in args.part and "stages" in results:
        results["projection"] = project(
            results["stages"], results.get("startup", {}).get("after"), results.get("storage")
        )
        update_results("scale", results)
    print(json.dumps({k: v for k, v in results.items() if k != "stages"}, indent=1)[:3000])


if __name__ == "__main__":
    main()
