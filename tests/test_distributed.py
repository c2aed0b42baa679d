"""Multi-process training: torchrun with 2 CPU processes (gloo) against one process."""

import numpy as np
import pytest
import torch

from irn_core.distributed import run_training
from irn_core.stages.cam import train_cam
from irn_core.stages.data import check_dataset
from irn_core.toy import TOY_CLASSES
from irn_core.train import epoch_loader


class Items(torch.utils.data.Dataset):
    def __len__(self):
        return 12

    def __getitem__(self, i):
        return torch.tensor(i)


def test_process_slices_make_up_the_single_process_batches(monkeypatch):
    """Under torchrun each process takes every world-th image of each batch: together they see
    exactly the batches of one process, epoch by epoch."""
    single = [b.tolist() for b in epoch_loader(Items(), 1, 4, seed=3)]
    slices = []
    for rank in range(2):
        monkeypatch.setattr("irn_core.train.dist_info", lambda rank=rank: (rank, 2))
        slices.append([b.tolist() for b in epoch_loader(Items(), 1, 4, seed=3)])
    assert len(single) == 3 and all(len(b) == 2 for b in slices[0])
    for k, batch in enumerate(single):
        assert sorted(slices[0][k] + slices[1][k]) == sorted(batch) and slices[0][k] == batch[0::2]
    with pytest.raises(ValueError, match="batch_size 3 is not a multiple of the 2 training processes"):
        epoch_loader(Items(), 1, 3, seed=3)


@pytest.mark.slow
def test_two_processes_train_like_one(toy_root, tmp_path):
    """train_cam under torchrun (2 processes, gloo) follows the single-process loss curve: same
    effective batch (16 = 2 x 8), steps and lr schedule; BatchNorm statistics differ (per process)."""
    lists = {"train_list": "ImageSets/Segmentation/train.txt"}
    cfg = {
        "run_name": "t",
        "device": "cpu",
        "threads": 2,
        "num_workers": 0,
        "channels_last": False,
        "mixed_precision": "off",
        "dataset": {"kind": "toy", "root": str(toy_root), "classes": list(TOY_CLASSES), **lists},
        "cam": {
            "backbone": "resnet_tiny",
            "pretrained": None,
            "optimizer": "adamw",
            "momentum": 0.9,
            "epochs": 4,
            "batch_size": 16,
            "lr": 0.002,
            "weight_decay": 1e-4,
            "resize_long": [96, 128],
            "crop_size": 96,
            "scales": [1.0],
            "seed": 0,
        },
    }
    manifest = tmp_path / "train.json"
    check_dataset(cfg, "train_list", str(manifest))
    curves = {}
    for n in (1, 2):
        out = tmp_path / f"p{n}"
        out.mkdir()
        run_training(
            dict(cfg, train_processes=n),
            train_cam,
            str(manifest),
            str(out / "model.pt"),
            str(out / "ckpt"),
            log_path=str(out / "log.txt"),
        )
        state = torch.load(out / "model.pt", weights_only=False)
        curves[n] = [h["total"] for h in state["history"]]
        assert not (out / "ckpt").exists()
    log = (tmp_path / "p2/log.txt").read_text()
    assert "2 processes (gloo, CPU)" in log and "train_cam: epoch 4" in log
    one, two = np.array(curves[1]), np.array(curves[2])
    assert len(one) == len(two) == 4
    assert two[-1] < two[0] and one[-1] < one[0]  # both learn
    print(f"\nloss per epoch: 1 process {one.round(4).tolist()}; 2 processes {two.round(4).tolist()}")
    assert np.abs(two - one).max() < 0.15 * one.max(), (one, two)  # the same curve, within noise
