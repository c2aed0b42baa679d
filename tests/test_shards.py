"""Sharded per-image stages: the blocks of the image list, and the index file over shard files."""

import functools
import operator

import h5py
import numpy as np
import pytest

from irn_core.io import atomic_h5, open_stage, write_group
from irn_core.shards import shard_ids, write_index


def test_shards_are_contiguous_near_equal_blocks_in_order():
    ids = [f"i{k}" for k in range(10)]
    blocks = [shard_ids(ids, k, 4) for k in range(4)]
    assert [len(b) for b in blocks] == [2, 3, 2, 3]
    assert functools.reduce(operator.iadd, blocks, []) == ids
    assert shard_ids(ids, 0, 1) == ids and shard_ids(ids[:2], 2, 3) == ["i1"] and shard_ids(ids[:2], 0, 3) == []
    with pytest.raises(ValueError, match="shard 4 of 4"):
        shard_ids(ids, 4, 4)


def _shard(path, names, stage="make_cam", settings="abc"):
    with atomic_h5(path, {"stage": stage, "config_digest": settings}) as f:
        for n in names:
            write_group(f, n, {"v": np.full(3, int(n[1:]), np.int64)})


def test_index_reads_as_one_stage_file(tmp_path, monkeypatch):
    (tmp_path / "cam/shards").mkdir(parents=True)
    _shard(tmp_path / "cam/shards/cams.0.h5", ["i0", "i1"])
    _shard(tmp_path / "cam/shards/cams.1.h5", ["i2"])
    done = write_index(tmp_path / "cam/cams.h5", [tmp_path / f"cam/shards/cams.{k}.h5" for k in range(2)])
    assert done == {"images": 3, "shards": 2}
    monkeypatch.chdir("/")  # the links are relative to the index, not to the working directory
    with open_stage(tmp_path / "cam/cams.h5") as f:
        assert sorted(f) == ["i0", "i1", "i2"] and "i2" in f and "i9" not in f
        assert f["i2"]["v"][()].tolist() == [2, 2, 2]
        assert f.attrs["stage"] == "make_cam" and f.attrs["shards"] == '["shards/cams.0.h5", "shards/cams.1.h5"]'
        assert len(f.attrs["content_digest"]) == 16
        # read through the shard files themselves, in the order of the index's links, which h5py
        # and other HDF5 tools follow
        with h5py.File(tmp_path / "cam/cams.h5") as links:
            assert list(f) == list(links) and dict(f.items()).keys() == set(links)
            assert all((f[n]["v"][()] == links[n]["v"][()]).all() for n in links)
        assert f.get("i9") is None
        with pytest.raises(KeyError, match="cams.h5: no group for image 'i9'"):
            f["i9"]


def test_index_refuses_mixed_or_overlapping_shards(tmp_path):
    _shard(tmp_path / "a.0.h5", ["i0"])
    _shard(tmp_path / "a.1.h5", ["i0"])
    _shard(tmp_path / "a.2.h5", ["i5"], settings="other")
    with pytest.raises(ValueError, match=r"a.1.h5: image 'i0' is also in .*a.0.h5"):
        write_index(tmp_path / "a.h5", [tmp_path / "a.0.h5", tmp_path / "a.1.h5"])
    with pytest.raises(ValueError, match=r"a.2.h5: shard of stage make_cam / settings other"):
        write_index(tmp_path / "a.h5", [tmp_path / "a.0.h5", tmp_path / "a.2.h5"])
    assert not (tmp_path / "a.h5").exists()
    with h5py.File(tmp_path / "a.3.h5", "w") as f:  # not finished by atomic_h5
        f.attrs["stage"] = "make_cam"
    with pytest.raises(ValueError, match="a.3.h5: shard file is incomplete"):
        write_index(tmp_path / "a.h5", [tmp_path / "a.3.h5"])
