"""The tiny config through the SLURM profile on a real single-node SLURM (started by .ci/slurm),
sharded, against the local run."""

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import load_config
from test_pipeline import assert_same_stage_files

ROOT = Path(__file__).resolve().parents[1]


def _can_start_slurm() -> str | None:
    """Why this machine cannot run the SLURM test, or None."""
    if sys.version_info < (3, 11):
        return "the SLURM executor plugin 2.x needs Python >= 3.11"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')"
    if os.geteuid() != 0 or not (shutil.which("slurmctld") or shutil.which("apt-get")):
        return "starting a SLURM needs root and Debian's packages (CI has both)"
    return None


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running single-node SLURM; its daemons are stopped (by PID) afterwards."""
    why = _can_start_slurm()
    if why:
        pytest.skip(why)
    state = tmp_path_factory.mktemp("slurm")
    env = dict(os.environ, IRN_SLURM_DIR=str(state))
    up = subprocess.run([str(ROOT / ".ci/slurm"), "up"], env=env, capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stdout + up.stderr
    env["SLURM_CONF"] = str(state / "slurm.conf")
    try:
        yield env
    finally:
        subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True)
        down = subprocess.run([str(ROOT / ".ci/slurm"), "down"], env=env, capture_output=True, text=True)
        assert down.returncode == 0, down.stderr
        for name in ("slurmctld", "slurmd"):
            assert not (state / f"run/{name}.pid").exists()


def _cancel_first_job(env: dict, comment: str, found: list, stop: threading.Event) -> None:
    """Cancel the first SLURM job whose comment is ``comment`` (the plugin's rule_<rule>_wildcards_<values>)
    as soon as it is queued, as a preemption would end it; its id goes to ``found``."""
    while not stop.is_set() and not found:
        q = subprocess.run(["squeue", "-h", "-o", "%i %k"], env=env, capture_output=True, text=True)
        for line in q.stdout.splitlines():
            job_id, _, text = line.partition(" ")
            if text.strip() == comment:
                subprocess.run(["scancel", job_id], env=env, capture_output=True)
                found.append(job_id)
                break
        time.sleep(0.2)


def _snakemake(work, cfg_path, *args, env=None, timeout=1200, cancel=None):
    """Run the workflow to the pseudo labels; ``cancel``: the SLURM comment of a job to cancel once
    (returned: the cancelled job's id, if any)."""
    # Snakemake ignores SIGTERM while jobs run: timeout -k ends it with SIGKILL
    cmd = [
        "timeout",
        "-k",
        "10",
        str(timeout),
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(work),
        "pseudo_labels",
        "results/tiny/labels/ins_pseudo_coco.json",
        "--configfile",
        str(cfg_path),
        *args,
    ]
    t = time.perf_counter()
    found: list = []
    stop = threading.Event()
    watcher = threading.Thread(target=_cancel_first_job, args=(env, cancel, found, stop)) if cancel else None
    if watcher:
        watcher.start()
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    finally:
        stop.set()
        if watcher:
            watcher.join()
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    return time.perf_counter() - t, r, found


@pytest.mark.slow
def test_sharded_slurm_run_equals_the_local_run(slurm, tmp_path):
    cfg = load_config("tests/tiny.yaml")
    (tmp_path / "local.yaml").write_text(yaml.safe_dump(cfg))
    local_s, _, _ = _snakemake(tmp_path / "local", tmp_path / "local.yaml", "--cores", "2")
    cfg["shards"] = 2
    (tmp_path / "slurm.yaml").write_text(yaml.safe_dump(cfg))
    # the profile as shipped (SLURM's default partition takes the jobs), without accounts as this
    # cluster has none; shard 1 of make_cam is cancelled once queued, as a preemption would end it
    slurm_s, r, cancelled = _snakemake(
        tmp_path / "slurm",
        tmp_path / "slurm.yaml",
        "--workflow-profile",
        str(ROOT / "workflow/profiles/slurm"),
        "--slurm-no-account",
        "--slurm-init-seconds-before-status-checks",
        "5",
        "--seconds-between-status-checks",
        "2",
        "--latency-wait",
        "5",
        env=slurm,
        cancel="rule_make_cam_wildcards_1",
    )
    log = r.stdout + r.stderr
    submitted = log.count("has been submitted with SLURM jobid")
    assert submitted >= 10, log[-3000:]  # every per-image shard is a SLURM job
    # the cancelled shard was submitted again on its own (the profile's retry), its sibling once
    assert cancelled, "make_cam's shard 1 was never seen in the queue"
    # (shard, SLURM job id) of each make_cam submission: the plugin's log path names both (the job
    # blocks and their submission lines interleave when several jobs start together)
    pattern = r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_make_cam/(\d+)/"
    make_cam = [(shard, job_id) for job_id, shard in re.findall(pattern, log)]
    assert sorted(shard for shard, _ in make_cam) == ["0", "1", "1"], log[-4000:]
    assert ("1", cancelled[0]) in make_cam
    assert_same_stage_files(tmp_path / "local/results/tiny", tmp_path / "slurm/results/tiny")
    print(f"\nlocal {local_s:.1f} s; SLURM {slurm_s:.1f} s, {submitted} jobs submitted, {cancelled[0]} cancelled")
