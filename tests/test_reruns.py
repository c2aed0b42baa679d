"""Honest reruns on the tiny config: a changed setting reruns what reads it, a forced training
retrains, a killed training resumes and ends where an uninterrupted one does."""

import os
import re
import signal
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import failed, load_config, snakemake

ROOT = Path(__file__).resolve().parents[1]
CAM_EPOCHS = 3


def _config(work, **changes):
    cfg = load_config("tests/tiny.yaml")
    cfg["cam"]["epochs"] = CAM_EPOCHS
    for key, value in changes.items():
        section, name = key.split("__")
        cfg[section][name] = value
    path = work / f"config_{abs(hash(tuple(sorted(changes.items()))))}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def planned(stdout: str) -> dict[str, int]:
    """Rule -> job count from a dry run's job table."""
    table = stdout.split("job ", 1)[1].split("total", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def _digest(path):
    return torch.load(path, map_location="cpu", weights_only=False)["content_digest"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("reruns")
    r = snakemake(work, _config(work), "results/tiny/irn/model.pt", timeout=900)
    assert r.returncode == 0, failed(r, 3000)
    return work


@pytest.mark.slow
def test_relation_setting_reruns_mining_and_irnet_only(work):
    out = work / "results/tiny"
    cam_mtime = (out / "cam/model.pt").stat().st_mtime_ns
    before = _digest(out / "irn/model.pt")
    changed = _config(work, relations__fg_threshold=0.4)
    r = snakemake(work, changed, "results/tiny/irn/model.pt", "-n", timeout=900)
    assert r.returncode == 0, failed(r, 2000)
    assert planned(r.stdout) == {"mine_relations": 1, "train_irn": 1}
    r = snakemake(work, changed, "results/tiny/irn/model.pt", timeout=900)
    assert r.returncode == 0, failed(r, 2000)
    assert _digest(out / "irn/model.pt") != before
    assert (out / "cam/model.pt").stat().st_mtime_ns == cam_mtime
    assert not (out / "irn/checkpoints").exists()


@pytest.mark.slow
def test_forced_training_retrains_every_epoch(work):
    out = work / "results/tiny"
    before = _digest(out / "cam/model.pt")
    r = snakemake(work, _config(work), "results/tiny/cam/model.pt", "--forcerun", "train_cam", timeout=900)
    assert r.returncode == 0, failed(r, 2000)
    log = (out / "logs/train_cam.log").read_text()
    assert [int(e) for e in re.findall(r"train_cam: epoch (\d+) ", log)] == list(range(1, CAM_EPOCHS + 1))
    assert "resumed" not in log
    assert _digest(out / "cam/model.pt") == before  # from scratch, same seed: the same weights
    assert not (out / "cam/checkpoints").exists()


@pytest.mark.slow
def test_killed_training_resumes_to_the_uninterrupted_model(work):
    out = work / "results/tiny"
    uninterrupted = _digest(out / "cam/model.pt")
    config = _config(work)
    proc = snakemake(work, config, "results/tiny/cam/model.pt", "--forcerun", "train_cam", popen=True)
    first = out / "cam/checkpoints/epoch0001.pt"
    deadline = time.time() + 300
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and the rule's process
    proc.wait()
    assert first.exists() and not (out / "cam/model.pt").exists()
    assert snakemake(work, config, "--unlock").returncode == 0
    r = snakemake(work, config, "results/tiny/cam/model.pt", "--rerun-incomplete", timeout=900)
    assert r.returncode == 0, failed(r, 2000)
    log = (out / "logs/train_cam.log").read_text()
    done = int(re.search(r"train_cam: resumed from epoch (\d+)", log)[1])
    assert 1 <= done < CAM_EPOCHS
    assert [int(e) for e in re.findall(r"train_cam: epoch (\d+) ", log)] == list(range(done + 1, CAM_EPOCHS + 1))
    assert _digest(out / "cam/model.pt") == uninterrupted
    assert not (out / "cam/checkpoints").exists()
    assert not list((out / "cam").glob(".*tmp*"))
