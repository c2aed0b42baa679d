"""End to end: the whole Snakemake DAG on the tiny config (a few dozen images, one epoch)."""

import json
import re
from pathlib import Path

import h5py
import pytest
from conftest import failed, irn, load_config, snakemake

from irn_core.cam import stage_cams

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_summary_has_every_stage(tiny_run):
    s = json.loads((tiny_run / "summary.json").read_text())
    for key in ("miou", "best_miou", "best_threshold"):
        assert 0 <= s["cam"][key] <= 1
    assert 0 <= s["sem_pseudo"]["miou"] <= 1
    for section in ("ins_pseudo", "baseline_cc", "baseline_sem_cc"):
        for k in ("map25", "map50", "map70", "map75"):
            assert k in s[section]
    for section in ("maskrcnn", "maskrcnn_gt"):  # Mask R-CNN on pseudo labels, and on ground truth
        for k in ("map25", "map50", "map70", "map75", "coco_segm_ap"):
            assert 0 <= s[section][k] <= 1
    assert 0 <= s["deeplab"]["miou"] <= 1
    assert s["seconds"]["total"] > 0 and "train_cam" in s["seconds"]
    assert 0 < s["seconds"]["elapsed_through_pseudo_labels"] < s["seconds"]["elapsed"]


@pytest.mark.slow
def test_supervised_stages_write_models_and_predictions(tiny_run):
    pseudo = json.loads((tiny_run / "labels/ins_pseudo_coco.json").read_text())
    gt = json.loads((tiny_run / "maskrcnn/gt_train_coco.json").read_text())
    assert [im["id"] for im in gt["images"]] == [im["id"] for im in pseudo["images"]]
    val = json.loads((tiny_run / "maskrcnn/gt_val_coco.json").read_text())
    val_ids = {im["id"] for im in val["images"]}
    for source in ("pseudo", "gt"):
        assert (tiny_run / f"maskrcnn/{source}/model.pt").is_file()
        preds = json.loads((tiny_run / f"maskrcnn/{source}/predictions_val.json").read_text())
        assert all(p["image_id"] in val_ids and 1 <= p["category_id"] <= 4 for p in preds)
        assert json.loads((tiny_run / f"maskrcnn/{source}/eval.json").read_text())["images"] == len(val_ids)
    assert (tiny_run / "deeplab/model.pt").is_file()


@pytest.mark.slow
def test_stage_files_carry_provenance(tiny_run):
    with h5py.File(tiny_run / "cam/cams.h5") as f:
        assert f.attrs["stage"] == "make_cam" and f.attrs["run_name"] == "tiny" and f.attrs["complete"]
        assert len(f.attrs["checkpoint_digest"]) == 16
        g = f["2019_000001"]
        scales = load_config("tests/tiny.yaml")["cam"]["scales"]
        assert sorted(g) == sorted(["keys", "image_size"] + [f"cam_raw_{i}" for i in range(len(scales))])
        raw = g["cam_raw_0"]
        assert "class activation map" in raw.attrs["meaning"] and raw.compression == "gzip"
        k = g["keys"].shape[0]
        h, w = g["image_size"][()]
        assert raw.shape == (k, -(-h // 16), -(-w // 16))  # stride 16 of scale 1.0
        assert stage_cams(g, 4)[1].shape == (k, -(-h // 4), -(-w // 4)) and stage_cams(g, 1)[1].shape == (k, h, w)
    with h5py.File(tiny_run / "labels/ins_pseudo.h5") as f:
        assert f.attrs["stage"] == "make_labels"
        assert set(f["2019_000001"]) == {"instances", "classes", "scores"}
        assert json.loads(f.attrs["classes"]) == ["disc", "square", "triangle", "star"]
    coco = json.loads((tiny_run / "labels/ins_pseudo_coco.json").read_text())
    assert len(coco["images"]) == 32 and len(coco["categories"]) == 4


@pytest.mark.slow
def test_rerun_one_stage_on_its_own(tiny_run):
    """One stage reruns on its own: forcing it plans it and its dependents only; a deleted output
    asked for by name is rebuilt from the cached upstream files, which stay untouched."""
    work = tiny_run.parents[1]
    tiny = ROOT / "tests/tiny.yaml"
    r = snakemake(work, tiny, "--forcerun", "eval_cam", "-n")
    assert r.returncode == 0
    assert "rule eval_cam:" in r.stdout and "rule summary:" in r.stdout
    assert "rule train_cam:" not in r.stdout and "rule make_cam:" not in r.stdout
    cams = tiny_run / "cam/cams.h5"
    before = cams.stat().st_mtime_ns
    (tiny_run / "cam/eval.json").unlink()
    r = snakemake(work, tiny, "results/tiny/cam/eval.json")
    assert r.returncode == 0, failed(r, 2000)
    assert json.loads((tiny_run / "cam/eval.json").read_text())["images"] == 32
    assert cams.stat().st_mtime_ns == before


def _planned(stdout: str) -> dict[str, int]:
    table = stdout.split("job ", 1)[1].split("total", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.mark.slow
def test_changed_threshold_replans_the_instance_labels_and_dependents_only(tiny_run):
    work = tiny_run.parents[1]
    r = snakemake(work, ROOT / "tests/tiny.yaml", "-n")
    assert "Nothing to be done" in r.stdout + r.stderr
    cfg = load_config("tests/tiny.yaml")
    cfg["labels"]["ins_bg_threshold"] = 0.3
    r = snakemake(work, cfg, "-n", name="threshold")
    assert r.returncode == 0, failed(r, 2000)
    # the labels are thresholded from the walk file: the walk is not redone. The ground-truth
    # detector does not depend on the pseudo labels: it is not retrained (the oracle diagnostics
    # synthesise labels with the same threshold). One rule makes both label kinds, so the semantic
    # labels are rewritten too and what reads them reruns (the baselines cut them into components)
    assert _planned(r.stdout) == {
        "make_labels": 1,
        "baselines": 1,
        "pseudo_coco": 1,
        "eval_pseudo": 1,
        "train_maskrcnn": 1,
        "eval_maskrcnn": 1,
        "train_deeplab": 1,
        "eval_deeplab": 1,
        "diagnostics": 1,
        "summary": 1,
        "report": 1,
        "all": 1,
    }
    assert "wildcards: source=pseudo" in r.stdout and "source=gt" not in r.stdout
    # the rules whose own settings changed say so (Snakemake names one reason: eval_pseudo's
    # updated inputs may hide its own change); the others follow their inputs
    reasons = dict(re.findall(r"^rule (\w+):\n(?:    .*\n)*?    reason: (.*)$", r.stdout, re.M))
    own = ("make_labels", "diagnostics")
    for rule in own:
        assert "Params have changed since last execution" in reasons[rule], (rule, reasons[rule])
    assert all(
        reason.startswith("Input files updated by another job")
        for rule, reason in reasons.items()
        if rule not in (*own, "eval_pseudo", "all")
    )
    # the semantic threshold alike: relabelling and the baseline that reads it, never the walk
    cfg = load_config("tests/tiny.yaml")
    cfg["labels"]["sem_bg_threshold"] = 0.35
    r = snakemake(work, cfg, "-n", name="threshold")
    assert r.returncode == 0, failed(r, 2000)
    planned = _planned(r.stdout)
    assert planned["make_labels"] == planned["baselines"] == 1 and "random_walk" not in planned
    assert not {"train_cam", "make_cam", "mine_relations", "train_irn", "infer_irn"} & set(planned)


@pytest.mark.slow
def test_threshold_sweeps_meet_the_configured_numbers(tiny_run):
    """labels/eval.json holds each label kind over its threshold sweep; at the configured threshold
    the sweep's numbers are the labels' own; the best on the ground truth is marked as such."""
    ev = json.loads((tiny_run / "labels/eval.json").read_text())
    sem, ins = ev["sem_pseudo"], ev["ins_pseudo"]
    assert sem["threshold"] == ins["threshold"] == 0.25
    assert len(sem["sweep"]) >= 3 and len(ins["sweep"]) >= 3
    assert sem["sweep"]["0.25"] == sem["miou"]
    assert all(ins["sweep"]["0.25"][k] == ins[k] for k in ("map25", "map50", "map70", "map75"))
    assert sem["best_on_gt"]["miou"] == max(sem["sweep"].values()) and "not tuning" in sem["best_on_gt"]["note"]
    assert ins["best_on_gt"]["map50"] == max(v["map50"] for v in ins["sweep"].values())
    s = json.loads((tiny_run / "summary.json").read_text())
    assert s["sem_pseudo"]["threshold"] == 0.25 and s["ins_pseudo"]["best_on_gt"] == ins["best_on_gt"]


@pytest.mark.slow
def test_labels_from_the_walk_file_equal_labels_made_at_once(tiny_run, tmp_path, monkeypatch):
    """make_labels thresholds the stored walk (float32, the precision the labels read): its labels
    equal those of one walk made and thresholded at once (synthesis.labels_one_walk), pixel for
    pixel. IRNet's maps are a temporary file the run removed; they are made again here, and the
    walk and the labels with them, by the stage functions the rules run."""
    import numpy as np
    import torch

    from irn_core.cam import stage_cams
    from irn_core.instances import instance_map
    from irn_core.io import read_instances
    from irn_core.stages.irnet import infer_irn
    from irn_core.stages.labels import make_labels, random_walk
    from irn_core.synthesis import labels_one_walk

    assert not (tiny_run / "irn/irn_out.h5").exists()  # temp(): removed once the walk was made
    cfg = dict(load_config("tests/tiny.yaml"), num_workers=0)
    lab = cfg["labels"]
    monkeypatch.chdir(tiny_run.parents[1])
    infer_irn(cfg, str(tiny_run / "irn/model.pt"), str(tmp_path / "irn.h5"))
    random_walk(cfg, str(tiny_run / "cam/cams.h5"), str(tmp_path / "irn.h5"), str(tmp_path / "walk.h5"))
    make_labels(cfg, str(tmp_path / "walk.h5"), str(tmp_path / "sem.h5"), str(tmp_path / "ins.h5"))
    files = {k: h5py.File(tmp_path / f"{k}.h5") for k in ("irn", "sem", "ins")}
    cams = h5py.File(tiny_run / "cam/cams.h5")
    for image_id in files["sem"]:
        r = files["irn"][image_id]
        keys, cam_s4 = stage_cams(cams[image_id], 4)
        inst = instance_map(torch.from_numpy(r["disp"][()]), lab["centroid_iterations"], lab["centroid_threshold"])
        (label, _), (masks, classes, scores) = labels_one_walk(
            torch.from_numpy(cam_s4),
            keys,
            torch.from_numpy(r["boundary"][()]),
            inst,
            tuple(r["image_size"][()]),
            cfg["propagate"],
            lab["sem_bg_threshold"],
            lab["ins_bg_threshold"],
            lab["min_fraction"],
        )
        assert np.array_equal(files["sem"][image_id]["label"][()], label.numpy()), image_id
        stored = read_instances(files["ins"], image_id)
        assert np.array_equal(stored[0], masks.numpy()) and np.array_equal(stored[1], classes.numpy())
        assert np.array_equal(stored[2], scores.numpy())
    # labels.crf: make_labels refines those labels on their image, each kind by its CRF function
    # (the instances with labels.crf_min_kept)
    from irn_core.datasets import open_dataset
    from irn_core.synthesis import crf_instances, crf_semantic

    crf = dict(cfg, labels={**lab, "crf": True, "crf_min_kept": 0.5})
    make_labels(crf, str(tmp_path / "walk.h5"), str(tmp_path / "sem_crf.h5"), str(tmp_path / "ins_crf.h5"))
    data = open_dataset(cfg["dataset"])
    changed = restored = 0
    with h5py.File(tmp_path / "sem_crf.h5") as sem_crf, h5py.File(tmp_path / "ins_crf.h5") as ins_crf:
        for image_id in files["sem"]:
            image, label = data.load_image(image_id), files["sem"][image_id]["label"][()]
            assert np.array_equal(sem_crf[image_id]["label"][()], crf_semantic(image, label)), image_id
            expect = crf_instances(image, *read_instances(files["ins"], image_id), 0.5)
            got = read_instances(ins_crf, image_id)
            assert all(np.array_equal(a, b) for a, b in zip(got, expect)), image_id
            changed += not np.array_equal(sem_crf[image_id]["label"][()], label)
            restored += not np.array_equal(got[0], crf_instances(image, *read_instances(files["ins"], image_id))[0])
    assert changed  # the CRF moved some label: the files are not the unrefined ones
    assert restored  # and crf_min_kept kept some instance's mask from the walk
    # the walk + components baseline cuts the semantic labels make_labels wrote (refined, here):
    # its instances of a class are the 4-connected components of that class's pixels there
    from scipy import ndimage

    from irn_core.stages.labels import baselines

    baselines(
        crf,
        str(tiny_run / "cam/cams.h5"),
        str(tmp_path / "walk.h5"),
        str(tmp_path / "sem_crf.h5"),
        str(tmp_path / "cc.h5"),
        str(tmp_path / "sem_cc.h5"),
    )
    with h5py.File(tmp_path / "sem_crf.h5") as sem_crf, h5py.File(tmp_path / "sem_cc.h5") as sem_cc:
        assert sorted(sem_cc) and set(sem_cc) <= set(sem_crf)
        for image_id in sem_cc:
            label = sem_crf[image_id]["label"][()]
            masks, classes, _ = read_instances(sem_cc, image_id)
            components = 0
            for c in np.unique(label[label > 0]) - 1:
                comps, n = ndimage.label(label == c + 1)  # 4-connected
                expect = sorted(np.flatnonzero(comps.ravel() == k).tolist() for k in range(1, n + 1))
                got = sorted(np.flatnonzero(m.ravel()).tolist() for m in masks[classes == c])
                assert got == expect, (image_id, c)
                components += n
            assert len(masks) == components
    # irn show and the report draw IRNet's maps from its model, with the settings the walk recorded
    from irn_core.figures import _irn_settings, image_panels, irn_maps

    image_id = sorted(files["irn"])[0]
    image = open_dataset(cfg["dataset"]).load_image(image_id)
    settings = _irn_settings(tiny_run / "labels/walk.h5")
    assert settings == {k: cfg["irn"][k] for k in ("infer_pad_to", "flip_aligned", "infer_scales")}
    maps = irn_maps(tiny_run / "irn/model.pt", image, settings)
    for name in ("boundary", "disp"):
        assert np.array_equal(maps[name], files["irn"][image_id][name][()]), name
    titles = [t for t, _ in image_panels(tiny_run, image_id)]
    assert "boundary map (dark: boundary)" in titles and not any(t == "boundary / displacement" for t in titles)
    for f in (*files.values(), cams):
        f.close()


@pytest.mark.slow
def test_named_target_ends_with_its_own_summary(tiny_run):
    work = tiny_run.parents[1]
    r = snakemake(work, ROOT / "tests/tiny.yaml", "pseudo_labels")
    assert r.returncode == 0, failed(r, 2000)
    s = json.loads((tiny_run / "summary_pseudo_labels.json").read_text())
    assert s["target"] == "pseudo_labels"
    assert {"cam", "sem_pseudo", "ins_pseudo", "baseline_cc", "baseline_sem_cc"} <= set(s)
    assert "maskrcnn" not in s and "deeplab" not in s
    assert "eval_cam" in s["seconds"] and "eval_pseudo" in s["seconds"]
    assert not any(k.startswith(("train_maskrcnn", "train_deeplab")) for k in s["seconds"])


@pytest.mark.slow
def test_oracle_with_the_pipelines_own_inputs_equals_the_pseudo_labels(tiny_run):
    s = json.loads((tiny_run / "summary.json").read_text())
    d = s["diagnostics"]
    assert d["images"] == 32
    assert d["pipeline"]["miou"] == pytest.approx(s["sem_pseudo"]["miou"], abs=1e-12)
    for k in ("map25", "map50", "map70", "map75"):
        assert d["pipeline"][k] == pytest.approx(s["ins_pseudo"][k], abs=1e-12)
    for oracle in ("gt_instance_map", "gt_boundary", "gt_cams"):
        assert 0 <= d[oracle]["miou"] <= 1 and 0 <= d[oracle]["map50"] <= 1
    # ground-truth class masks as CAMs beat the tiny run's one-epoch CAMs
    assert d["gt_cams"]["miou"] > d["pipeline"]["miou"]


@pytest.mark.slow
def test_irn_inspect_and_show(tiny_run, tmp_path):
    from importlib.metadata import entry_points

    from PIL import Image

    assert any(e.name == "irn" and e.value == "irn_core.cli:main" for e in entry_points(group="console_scripts"))
    r = irn("inspect", str(tiny_run / "cam/cams.h5"))
    assert r.returncode == 0, failed(r)
    assert "stage make_cam, run tiny" in r.stdout and "images: 32" in r.stdout
    assert "class activation map" in r.stdout and "stride 16 of the scaled image" in r.stdout
    assert "classes: 0 disc" in r.stdout
    out = tmp_path / "panel.png"
    r = irn("show", str(tiny_run), "2019_000001", "-o", str(out))
    assert r.returncode == 0, failed(r)
    with Image.open(out) as im:
        assert im.width >= 800 and im.height >= 600  # a grid of at least 4 x 3 panels
    val = json.loads((tiny_run / "maskrcnn/gt_val_coco.json").read_text())["images"][0]["file_name"][:-4]
    assert irn("show", str(tiny_run), val, "-o", str(tmp_path / "val.png")).returncode == 0  # Mask R-CNN panel
    r = irn("show", str(tiny_run), "no_such_image")
    assert r.returncode == 2 and "image 'no_such_image' is in no stage file" in r.stderr
    r = irn("inspect", str(tiny_run / "cam/missing.h5"))
    assert r.returncode == 2 and "missing.h5: stage file not found" in r.stderr


@pytest.mark.slow
def test_report_rule_draws_the_figures(tiny_run, tmp_path):
    from PIL import Image

    fig = tiny_run / "report"
    for name in ("sweeps.png", "losses.png", "wall_time.png"):
        with Image.open(fig / name) as im:
            assert im.width > 300 and im.height > 200
    panels = sorted(p.name for p in (fig / "panels").glob("*.png"))
    assert panels == ["2019_000001.png", "2019_000002.png", "2019_000003.png"]
    html = (fig / "per_class.html").read_text()
    assert html.count("<tr>") == 1 + 5 and "semantic pseudo label IoU" in html  # header + background + 4 classes
    work = tiny_run.parents[1]
    r = snakemake(work, ROOT / "tests/tiny.yaml", "--report", str(tmp_path / "report.zip"))
    assert r.returncode == 0, failed(r, 2000)
    import zipfile

    names = zipfile.ZipFile(tmp_path / "report.zip").namelist()
    assert any(n.endswith("report.html") for n in names)
    assert sum(n.endswith(".png") for n in names) >= 6


STAGE_FILES = (
    "cam/cams.h5",
    "relations/relations.h5",
    "labels/walk.h5",
    "labels/sem_pseudo.h5",
    "labels/ins_pseudo.h5",
    "labels/baseline_cc.h5",
    "labels/baseline_sem_cc.h5",
)


def assert_same_arrays(a: Path, b: Path) -> None:
    """Per-image stage file ``b`` holds the images and arrays of ``a``, equal element for element."""
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert sorted(fa) == sorted(fb), a
        for image_id in fa:
            for name, ds in fa[image_id].items():
                assert (ds[()] == fb[image_id][name][()]).all(), f"{a}: {image_id}/{name}"


def assert_same_stage_files(a: Path, b: Path) -> None:
    """Every per-image stage file of run ``b`` holds the arrays of run ``a``, image by image."""
    for rel in STAGE_FILES:
        assert_same_arrays(a / rel, b / rel)
    for rel in ("cam/eval.json", "labels/eval.json", "labels/ins_pseudo_coco.json"):
        ja, jb = (json.loads((r / rel).read_text()) for r in (a, b))
        assert {k: v for k, v in ja.items() if k != "seconds"} == {k: v for k, v in jb.items() if k != "seconds"}, rel


@pytest.mark.slow
def test_sharded_run_equals_the_unsharded_one(tiny_run, tmp_path):
    """shards: 3 splits every per-image stage into 3 jobs; the index files read as the single
    files of the unsharded run, array for array."""
    cfg = load_config("tests/tiny.yaml")
    cfg["shards"] = 3
    r = snakemake(tmp_path, cfg, "pseudo_labels", "results/tiny/labels/ins_pseudo_coco.json", name="sharded")
    assert r.returncode == 0, failed(r, 4000)
    run = tmp_path / "results/tiny"
    assert sorted(p.name for p in (run / "cam/shards").iterdir()) == ["cams.0.h5", "cams.1.h5", "cams.2.h5"]
    with h5py.File(run / "cam/shards/cams.1.h5") as f:
        assert len(f) == 11  # the train/eval union (32 ids) in blocks of 10, 11, 11
    # IRNet's maps are temporary: their shards lived until the last random-walk shard had read them
    assert not (run / "irn/irn_out.h5").exists() and not list(run.glob("irn/shards/*.h5"))
    assert_same_stage_files(tiny_run, run)
    summary = json.loads((run / "summary_pseudo_labels.json").read_text())
    assert summary["seconds"]["make_cam"] > 0  # the shard jobs' times, summed


def test_mined_relations_do_not_depend_on_the_thread_count(tiny_run, tmp_path, monkeypatch):
    """The run mined its relations with 2 threads (two forked worker processes, one torch thread
    each, the dense CRF included); mined again in this process with one worker and one thread,
    every image's label map is the same to the pixel. A run's thread count changes its CAM network
    (float sums in another order), not how relations are mined from the CAMs."""
    import torch

    from irn_core.datasets import IGNORE
    from irn_core.stages.relations import mine_relations

    cfg = load_config("tests/tiny.yaml")
    assert cfg["threads"] == 2 and cfg["relations"]["crf"]
    monkeypatch.chdir(tiny_run.parents[1])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        mine_relations(cfg, str(tiny_run / "cam/cams.h5"), str(tmp_path / "rel.h5"), workers=1)
    finally:
        torch.set_num_threads(threads)
    assert_same_arrays(tiny_run / "relations/relations.h5", tmp_path / "rel.h5")
    with h5py.File(tmp_path / "rel.h5") as one:
        labels = [one[image_id]["label"][()] for image_id in one]
    assert len(labels) == 32
    # the maps hold foreground: the comparison is not of empty maps
    assert sum(((lab > 0) & (lab != IGNORE)).any() for lab in labels) > 16
