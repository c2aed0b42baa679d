import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from irn_core.toy import ToySettings, write_toy_dataset

torch.set_num_threads(2)
ROOT = Path(__file__).resolve().parents[1]


def load_config(name: str) -> dict:
    """A shipped config as the workflow sees it: validated, every key it leaves out set to the
    schema's default (the paper's value)."""
    import yaml
    from snakemake.utils import validate

    cfg = yaml.safe_load((ROOT / name).read_text())
    validate(cfg, str(ROOT / "workflow/schemas/config.schema.yaml"))
    return cfg


def snakemake(work, config, *args, cores=2, env=None, timeout=1800, popen=False, name=None):
    """This repository's workflow run in folder ``work`` with ``args`` (targets and flags), as a
    user runs it: ``config`` is a config file, or a dict written to work/<name or run_name>.yaml
    first. The finished process, output captured as text; with ``popen``, the running process
    (in a session of its own, so that a test can kill it and its jobs)."""
    import yaml

    if isinstance(config, dict):
        path = Path(work) / f"{name or config.get('run_name', 'config')}.yaml"
        path.write_text(yaml.safe_dump(config))
        config = path
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work)]
    cmd += ["--configfile", str(config), "--cores", str(cores), *args]
    if popen:
        return subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
        )
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def failed(r, chars: int = 2000) -> str:
    """The end of a failed process's error, for an assertion's message: its stderr, or its stdout
    where stderr is empty (Snakemake prints an error it meets while building the DAG there)."""
    return (r.stderr.strip() or r.stdout)[-chars:]


def irn(*args):
    """The ``irn`` command line (irn_core.cli) with ``args``, as a user runs it; output as text."""
    return subprocess.run([sys.executable, "-m", "irn_core.cli", *args], capture_output=True, text=True)


def dry_run(work, config, *args):
    """``snakemake -n`` of the workflow on ``config`` (see snakemake())."""
    return snakemake(work, config, "-n", *args, cores=1)


@pytest.fixture(scope="session")
def toy_root(tmp_path_factory):
    """A small generated toy dataset shared by the tests (read-only)."""
    root = tmp_path_factory.mktemp("toy")
    write_toy_dataset(root, ToySettings(n_train=40, n_val=10, seed=3))
    return root


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The whole DAG on tests/tiny.yaml (results/tiny of a fresh folder). Every Python process of
    the run records the irn_core code it runs (tests/trace/sitecustomize.py) in <folder>/trace."""
    work = tmp_path_factory.mktemp("run")
    (work / "trace").mkdir()
    env = dict(
        os.environ,
        IRN_TRACE_DIR=str(work / "trace"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "tests" / "trace"), os.environ.get("PYTHONPATH")])),
    )
    r = snakemake(work, ROOT / "tests/tiny.yaml", env=env)
    assert r.returncode == 0, failed(r, 4000)
    return work / "results" / "tiny"
