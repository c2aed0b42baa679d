"""The authors' file layout: external CAMs in, our CAMs and labels out."""

import h5py
import numpy as np
import pytest
import torch

from irn_core.cam import stage_cams, strided_size
from irn_core.public import read_public_cam, write_public_cam
from irn_core.stages.cam import import_cam
from irn_core.stages.data import check_dataset
from irn_core.toy import TOY_CLASSES

LISTS = {"train_list": "ImageSets/Segmentation/train.txt", "eval_list": "ImageSets/Segmentation/train.txt"}


@pytest.fixture(scope="module")
def dataset(toy_root, tmp_path_factory):
    cfg = {"run_name": "t", "dataset": {"kind": "toy", "root": str(toy_root), "classes": list(TOY_CLASSES), **LISTS}}
    manifest = check_dataset(cfg, "train_list", str(tmp_path_factory.mktemp("m") / "train.json"))
    return cfg, manifest


def _public_cams(folder, manifest, rng):
    """What the public make_cam would write for each image: maps divided by their maximum."""
    folder.mkdir(exist_ok=True)
    for image_id, rec in manifest["images"].items():
        keys = np.asarray(rec["labels"], np.int64)
        h, w = rec["size"]
        s4 = rng.random((len(keys), *strided_size((h, w), 4))).astype(np.float32)
        full = rng.random((len(keys), h, w)).astype(np.float32)
        write_public_cam(
            folder / f"{image_id}.npy",
            keys,
            s4 / (s4.max(axis=(1, 2), keepdims=True) + 1e-5),
            full / (full.max(axis=(1, 2), keepdims=True) + 1e-5),
        )


def test_public_cam_file_is_what_make_cam_saves(tmp_path, rng):
    s4, full = rng.random((2, 3, 4)).astype(np.float32), rng.random((2, 10, 13)).astype(np.float32)
    write_public_cam(tmp_path / "a.npy", np.array([1, 3]), s4, full)
    raw = np.load(tmp_path / "a.npy", allow_pickle=True).item()
    assert set(raw) == {"keys", "cam", "high_res"}
    assert isinstance(raw["keys"], torch.Tensor) and isinstance(raw["cam"], torch.Tensor)  # as make_cam: .cuda() works
    assert isinstance(raw["high_res"], np.ndarray)
    back = read_public_cam(tmp_path / "a.npy")
    assert back["keys"].tolist() == [1, 3] and (back["cam"] == s4).all() and (back["high_res"] == full).all()


def test_import_round_trips_public_and_hdf5_sources(dataset, tmp_path, rng):
    cfg, manifest = dataset
    _public_cams(tmp_path / "npy", manifest, rng)
    import_cam(
        dict(cfg, cam={"external": str(tmp_path / "npy")}),
        [manifest_path(manifest, tmp_path)],
        str(tmp_path / "cams.h5"),
    )
    with h5py.File(tmp_path / "cams.h5") as f:
        assert f.attrs["stage"] == "import_cam" and len(f) == len(manifest["ids"])
        for image_id in manifest["ids"]:
            ref = read_public_cam(tmp_path / "npy" / f"{image_id}.npy")
            g = f[image_id]
            assert (g["keys"][()] == ref["keys"]).all()
            assert (g["cam_s4"][()] == ref["cam"]).all() and (g["cam_full"][()] == ref["high_res"]).all()
    # our own HDF5 layout imports to the same arrays
    import_cam(
        dict(cfg, cam={"external": str(tmp_path / "cams.h5")}),
        [manifest_path(manifest, tmp_path)],
        str(tmp_path / "again.h5"),
    )
    with h5py.File(tmp_path / "cams.h5") as a, h5py.File(tmp_path / "again.h5") as b:
        assert a.attrs["content_digest"] == b.attrs["content_digest"]


def test_import_keeps_the_per_scale_maps_of_make_cam(dataset, tmp_path, rng):
    """Our make_cam keeps each inference scale's maps; imported, they stay so (not merged into
    full-size maps), and they read as the CAMs merged from them."""
    cfg, manifest = dataset
    with h5py.File(tmp_path / "own.h5", "w") as f:
        for image_id, rec in manifest["images"].items():
            g = f.create_group(image_id)
            g["keys"] = np.asarray(rec["labels"], np.int64)
            g["image_size"] = np.asarray(rec["size"])
            for i, side in enumerate((3, 5)):
                g[f"cam_raw_{i}"] = rng.random((len(rec["labels"]), side, side + 1)).astype(np.float32)
    import_cam(
        dict(cfg, cam={"external": str(tmp_path / "own.h5")}),
        [manifest_path(manifest, tmp_path)],
        str(tmp_path / "cams.h5"),
    )
    with h5py.File(tmp_path / "own.h5") as a, h5py.File(tmp_path / "cams.h5") as b:
        for image_id in manifest["ids"]:
            assert sorted(b[image_id]) == ["cam_raw_0", "cam_raw_1", "image_size", "keys"]
            assert b[image_id]["cam_raw_1"].attrs["stride"] == "16 of the scaled image"
            for stride in (4, 1):
                ka, ca = stage_cams(a[image_id], stride)
                kb, cb = stage_cams(b[image_id], stride)
                assert np.array_equal(ka, kb) and np.array_equal(ca, cb)


def manifest_path(manifest, folder):
    import json

    path = folder / "train_manifest.json"
    path.write_text(json.dumps(manifest))
    return str(path)


def test_malformed_cams_are_rejected_naming_file_and_problem(dataset, tmp_path, rng):
    cfg, manifest = dataset
    folder = tmp_path / "npy"
    _public_cams(folder, manifest, rng)
    ids = manifest["ids"]
    recs = manifest["images"]
    # 0: wrong stride-4 shape; 1: keys of another class; 2: values not normalised; 3: missing;
    # 4: not a dict; 5: NaN in high_res
    a = read_public_cam(folder / f"{ids[0]}.npy")
    write_public_cam(folder / f"{ids[0]}.npy", a["keys"], a["cam"][:, :-1], a["high_res"])
    b = read_public_cam(folder / f"{ids[1]}.npy")
    other = sorted(set(range(4)) - set(recs[ids[1]]["labels"]))[0]
    write_public_cam(folder / f"{ids[1]}.npy", np.array([other] + recs[ids[1]]["labels"][1:]), b["cam"], b["high_res"])
    c = read_public_cam(folder / f"{ids[2]}.npy")
    write_public_cam(folder / f"{ids[2]}.npy", c["keys"], c["cam"] * 7, c["high_res"])
    (folder / f"{ids[3]}.npy").unlink()
    np.save(folder / f"{ids[4]}.npy", np.zeros(3))
    e = read_public_cam(folder / f"{ids[5]}.npy")
    e["high_res"][0, 0, 0] = np.nan
    write_public_cam(folder / f"{ids[5]}.npy", e["keys"], e["cam"], e["high_res"])
    with pytest.raises(ValueError) as err:
        import_cam(
            dict(cfg, cam={"external": str(folder)}), [manifest_path(manifest, tmp_path)], str(tmp_path / "cams.h5")
        )
    msg = str(err.value)
    h, w = recs[ids[0]]["size"]
    k = len(recs[ids[0]]["labels"])
    assert (
        f"{folder}/{ids[0]}.npy: CAMs of image '{ids[0]}': 'cam' has shape ({k}, {(h + 3) // 4 - 1}, {(w + 3) // 4})"
        f", expected ({k}, {(h + 3) // 4}, {(w + 3) // 4})" in msg
    )
    assert f"{folder}/{ids[1]}.npy: CAMs of image '{ids[1]}': keys [{other}" in msg
    assert f"differ from the image's labels {sorted(recs[ids[1]]['labels'])}" in msg
    assert f"{folder}/{ids[2]}.npy: CAMs of image '{ids[2]}': 'cam' values span [" in msg
    assert f"{folder}/{ids[3]}.npy: CAMs of image '{ids[3]}' not found" in msg
    assert f"{folder}/{ids[4]}.npy: expected a dict with keys, cam, high_res" in msg
    assert f"{folder}/{ids[5]}.npy: CAMs of image '{ids[5]}': 'high_res' has non-finite values" in msg
    assert msg.startswith(f"external CAMs {folder}: 6 problem(s) in {len(ids)} images")
    assert not (tmp_path / "cams.h5").exists() and not list(tmp_path.glob(".cams.h5.tmp*"))
