import pytest
import torch
from torch.utils.data import TensorDataset

from irn_core.train import epoch_loader


def _order(loader):
    return torch.cat([b[0] for b in loader]).tolist()


def test_epoch_loader_order_depends_only_on_seed_and_epoch():
    data = TensorDataset(torch.arange(10))
    first = _order(epoch_loader(data, 3, 4, seed=7))
    assert len(first) == 8 and len(set(first)) == 8  # full batches only
    assert _order(epoch_loader(data, 3, 4, seed=7)) == first
    assert _order(epoch_loader(data, 4, 4, seed=7)) != first


def test_epoch_loader_rejects_a_batch_larger_than_the_data():
    with pytest.raises(ValueError, match="batch_size 16 exceeds the 10 training images"):
        epoch_loader(TensorDataset(torch.arange(10)), 0, 16, seed=0)
