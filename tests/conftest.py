import numpy as np
import pytest
import torch

from irn_core.toy import ToySettings, write_toy_dataset

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def toy_root(tmp_path_factory):
    """A small generated toy dataset shared by the tests (read-only)."""
    root = tmp_path_factory.mktemp("toy")
    write_toy_dataset(root, ToySettings(n_train=40, n_val=10, seed=3))
    return root


@pytest.fixture
def rng():
    return np.random.default_rng(0)
