import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from irn_core.coco import instances_json
from irn_core.io import (
    atomic_h5,
    config_digest,
    open_stage,
    provenance,
    read_group,
    read_instances,
    write_group,
    write_instances,
)


def test_hdf5_round_trip_with_provenance(tmp_path):
    path = tmp_path / "cams.h5"
    cams = np.random.default_rng(0).random((2, 5, 7)).astype(np.float32)
    attrs = provenance("make_cam", "r1", {"a": 1}, checkpoint_digest="abc")
    with atomic_h5(path, attrs) as f:
        write_group(f, "2019_000001", {"cam_s4": cams, "keys": np.array([1, 3])})
    with open_stage(path) as f:
        g = read_group(f, "2019_000001")
        assert np.array_equal(g["cam_s4"], cams) and g["keys"].tolist() == [1, 3]
        assert f.attrs["stage"] == "make_cam" and f.attrs["run_name"] == "r1"
        assert f.attrs["config_digest"] == config_digest({"a": 1})
        assert f.attrs["checkpoint_digest"] == "abc"
        with pytest.raises(KeyError, match="no entry for image 'x'"):
            read_group(f, "x")


def test_failed_write_keeps_earlier_output(tmp_path):
    path = tmp_path / "out.h5"
    with atomic_h5(path, {"stage": "s"}) as f:
        write_group(f, "a", {"x": np.ones(3)})
    with pytest.raises(RuntimeError), atomic_h5(path, {"stage": "s"}) as f:
        write_group(f, "b", {"x": np.zeros(3)})
        raise RuntimeError("crash half way")
    with open_stage(path) as f:
        assert list(f) == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]


def test_incomplete_file_is_refused(tmp_path):
    path = tmp_path / "partial.h5"
    with h5py.File(path, "w") as f:
        f.create_group("a")
    with pytest.raises(ValueError, match="incomplete"):
        open_stage(path)
    with pytest.raises(FileNotFoundError, match="run its rule first"):
        open_stage(tmp_path / "missing.h5")


def test_instances_as_an_id_map_with_attributes(tmp_path):
    masks = np.zeros((2, 5, 6), bool)
    masks[0, :2, :3] = True
    masks[1, 3:, 4:] = True
    attrs = provenance("make_instances", "r", {"dataset": {"classes": ["cat", "dog"]}})
    with atomic_h5(tmp_path / "ins.h5", attrs) as f:
        write_instances(f, "img", masks, np.array([1, 0]), np.array([0.9, 0.4]))
        write_instances(f, "empty", np.zeros((0, 5, 6), bool), np.zeros(0), np.zeros(0))
        with pytest.raises(ValueError, match="overlap"):
            write_instances(f, "bad", np.stack([masks[0], masks[0]]), np.array([0, 1]), np.array([1.0, 1.0]))
    with open_stage(tmp_path / "ins.h5") as f:
        ids = f["img"]["instances"][()]
        assert ids.dtype == np.uint16 and ids[0, 0] == 1 and ids[4, 5] == 2 and ids[2, 2] == 0
        assert "instance id map" in f["img"]["instances"].attrs["meaning"]
        assert json.loads(f.attrs["classes"]) == ["cat", "dog"]
        m, c, sc = read_instances(f, "img")
        assert np.array_equal(m, masks) and c.tolist() == [1, 0] and sc.tolist() == pytest.approx([0.9, 0.4])
        assert read_instances(f, "empty")[0].shape == (0, 5, 6)


def test_coco_json_rle(rng):
    from pycocotools import mask as mask_utils

    m = np.zeros((10, 12), bool)
    m[2:5, 3:9] = True
    coco = instances_json(
        [{"id": 1, "file_name": "a.jpg", "height": 10, "width": 12}],
        [{"image_id": 1, "mask": m, "class": 2, "score": 0.7}],
        ["a", "b", "c"],
    )
    ann = coco["annotations"][0]
    assert ann["category_id"] == 3 and ann["area"] == 18 and ann["bbox"] == [3, 2, 6, 3]
    rle = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
    assert np.array_equal(mask_utils.decode(rle).astype(bool), m)


def test_temporary_of_a_killed_writer_is_removed_by_the_next(tmp_path):
    import os

    path = tmp_path / "cams.h5"
    dead = tmp_path / ".cams.h5.tmp999999999"  # SIGKILLed writer: its process is gone
    dead.write_bytes(b"half an HDF5 file")
    live = tmp_path / f".cams.h5.tmp{os.getppid()}"  # a writer that still runs is left alone
    live.write_bytes(b"")
    with atomic_h5(path, {"stage": "s"}) as f:
        write_group(f, "a", {"x": np.ones(3)})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["cams.h5", live.name])


def test_disk_full_is_named_and_leaves_nothing(tmp_path, monkeypatch):
    import errno
    import shutil
    from collections import namedtuple

    import torch

    import irn_core.io as io
    from irn_core.checkpoints import atomic_save

    (tmp_path / "model.pt").write_bytes(b"the previous good model")

    def short_write(obj, f):  # what torch.save does when the disk fills mid-write
        Path(f).write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 5230016 vs 5229904")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(torch, "save", short_write)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(100, 100, 0))
    with pytest.raises(OSError, match=f"no space left on device while writing {tmp_path / 'model.pt'}") as err:
        atomic_save({"model": {}}, tmp_path / "model.pt")
    assert err.value.errno == errno.ENOSPC
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    assert (tmp_path / "model.pt").read_bytes() == b"the previous good model"
    # an OSError with ENOSPC (h5py, json) is named the same way
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(100, 0, 100))

    def enospc(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.json, "dumps", enospc)
    with pytest.raises(OSError, match="no space left on device while writing .*eval.json"):
        io.write_json(tmp_path / "eval.json", {})
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_stage_arrays_read_one_image_at_a_time_in_each_worker(tmp_path):
    """Training reads its label maps through StageArrays: one image's array per access, each
    DataLoader worker through its own file handle; a missing file fails at once, a missing image
    names it."""
    import torch
    from torch.utils.data import DataLoader

    from irn_core.io import StageArrays

    path = tmp_path / "relations.h5"
    with atomic_h5(path, provenance("mine_relations", "r", {})) as f:
        for k in range(6):
            write_group(f, f"im{k}", {"label": np.full((3, 4), k, np.uint8)})
    arrays = StageArrays(path, "label")

    class Items(torch.utils.data.Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return torch.from_numpy(arrays[f"im{i}"]).sum()

    sums = [int(x) for x in DataLoader(Items(), batch_size=None, num_workers=2)]
    assert sums == [12 * k for k in range(6)]  # 3 x 4 cells of value k
    assert arrays._file is None  # the workers opened their own; this process only checked the file
    assert arrays["im5"].tolist() == [[5] * 4] * 3
    with pytest.raises(KeyError, match="no group for image 'im9'"):
        arrays["im9"]
    with pytest.raises(FileNotFoundError, match="stage file not found"):
        StageArrays(tmp_path / "missing.h5", "label")
