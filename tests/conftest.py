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
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(ROOT / "Snakefile"),
            "-d",
            str(work),
            "--configfile",
            str(ROOT / "tests/tiny.yaml"),
            "--cores",
            "2",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    return work / "results" / "tiny"
