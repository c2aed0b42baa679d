"""Honest reruns on the tiny config (tests/tiny.yaml, CAM trained 3 epochs): what Snakemake plans
after a change, and the wall time of each rerun.

(a) labels.ins_bg_threshold changed; (b) relations.fg_threshold changed; (c) -R train_cam;
(d) train_cam killed (SIGKILL) after its first checkpoint, then rerun; (e) labels.sem_bg_threshold
changed. With --thresholds RUN_CONFIG: only the two threshold changes on a finished run of that
config (e.g. the default toy run after README command 1), rerunning the pseudo_labels target.

Usage: python benchmarks/bench_reruns.py   (about 6 minutes on 2 cores)
       python benchmarks/bench_reruns.py --thresholds config/config.yaml   (after a finished default run)
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import load_config, planned, snakemake_cmd, snakemake_error, update_results

ROOT = Path(__file__).resolve().parents[1]


def snakemake(work: Path, config: Path, *args, popen=False):
    cmd = snakemake_cmd(work, config, *args)
    if popen:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(snakemake_error(r))
    return r, round(time.perf_counter() - t, 1)


def config(work: Path, name: str, **changes) -> Path:
    cfg = load_config("tests/tiny.yaml")
    cfg["cam"]["epochs"] = 3
    for key, value in changes.items():
        section, k = key.split("__")
        cfg[section][k] = value
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def threshold_reruns(config_name: str) -> dict:
    """The two background-threshold changes on a finished run of ``config_name`` (in the
    repository's own results/): what Snakemake plans for the pseudo_labels target, and its wall
    time; the base settings are run back after each."""
    rows = {}
    base = ROOT / "results" / "bench_reruns_base.yaml"
    cfg = load_config(config_name)
    base.write_text(yaml.safe_dump(cfg))
    for case, (key, value) in (
        ("ins_bg_threshold", ("ins_bg_threshold", 0.3)),
        ("sem_bg_threshold", ("sem_bg_threshold", 0.3)),
    ):
        changed = ROOT / "results" / f"bench_reruns_{case}.yaml"
        changed.write_text(yaml.safe_dump({**cfg, "labels": {**cfg["labels"], key: value}}))
        r, _ = snakemake(ROOT, changed, "pseudo_labels", "-n")
        _, seconds = snakemake(ROOT, changed, "pseudo_labels")
        rows[case] = {"change": {f"labels.{key}": value}, "planned": planned(r.stdout), "rerun_s": seconds}
        snakemake(ROOT, base, "pseudo_labels")  # back to the base settings
    rows["note"] = f"{config_name}, target pseudo_labels, --cores 2, after a finished run"
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--thresholds", metavar="CONFIG", help="only the threshold changes, on a finished run of CONFIG")
    args = ap.parse_args()
    if args.thresholds:
        rows = threshold_reruns(args.thresholds)
        print(yaml.safe_dump(rows, sort_keys=False))
        update_results("reruns_thresholds", rows)
        return
    work = Path(tempfile.mkdtemp(prefix="reruns"))
    base = config(work, "base")
    rows = {}
    _, rows["fresh_run_s"] = snakemake(work, base)
    for case, change in (
        ("a_ins_bg_threshold", {"labels__ins_bg_threshold": 0.3}),
        ("b_relations_fg_threshold", {"relations__fg_threshold": 0.4}),
        ("e_sem_bg_threshold", {"labels__sem_bg_threshold": 0.3}),
    ):
        cfg = config(work, case, **change)
        r, _ = snakemake(work, cfg, "-n")
        _, seconds = snakemake(work, cfg)
        rows[case] = {"change": change, "planned": planned(r.stdout), "rerun_s": seconds}
        snakemake(work, base)  # back to the base settings
    r, _ = snakemake(work, base, "-R", "train_cam", "--until", "train_cam", "-n")
    _, seconds = snakemake(work, base, "-R", "train_cam", "--until", "train_cam")
    log = (work / "results/tiny/logs/train_cam.log").read_text()
    rows["c_forced_train_cam"] = {
        "planned": planned(r.stdout),
        "rerun_s": seconds,
        "epochs_trained": re.findall(r"train_cam: epoch (\d+) ", log),
    }
    proc = snakemake(work, base, "-R", "train_cam", "--until", "train_cam", popen=True)
    first = work / "results/tiny/cam/checkpoints/epoch0001.pt"
    while not first.exists() and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    subprocess.run(snakemake_cmd(work, base, "--unlock"), capture_output=True, check=True)
    r, _ = snakemake(work, base, "--until", "train_cam", "-n")
    _, seconds = snakemake(work, base, "--until", "train_cam")
    log = (work / "results/tiny/logs/train_cam.log").read_text()
    rows["d_killed_train_cam"] = {
        "planned": planned(r.stdout),
        "rerun_s": seconds,
        "resumed_from_epoch": re.findall(r"resumed from epoch (\d+)", log),
        "epochs_trained": re.findall(r"train_cam: epoch (\d+) ", log),
    }
    rows["note"] = "tests/tiny.yaml with cam.epochs 3, --cores 2; planned = Snakemake's dry-run job table"
    print(yaml.safe_dump(rows, sort_keys=False))
    update_results("reruns", rows)


if __name__ == "__main__":
    main()
