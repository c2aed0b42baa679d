import numpy as np
import pytest
import torch

from irn_core.cam import (
    cam_to_label,
    merge_scales,
    multiscale_cam,
    multiscale_raw,
    normalise_max,
    stage_cams,
    strided_size,
    strided_up_size,
)
from irn_core.checkpoints import atomic_save
from irn_core.data import pil_resize, scaled_views
from irn_core.models import CAMNet, WeightsError, build_backbone, load_cam_backbone


def test_normalise_max_per_map():
    x = torch.tensor([[[0.0, 2.0], [1.0, 4.0]], [[0.5, 0.25], [0.0, 0.0]]])
    y = normalise_max(x)
    assert torch.allclose(y[0], torch.tensor([[0.0, 0.5], [0.25, 1.0]]), atol=1e-5)
    assert torch.allclose(y[1], torch.tensor([[1.0, 0.5], [0.0, 0.0]]), atol=1e-4)


def test_sizes():
    assert strided_size((375, 500), 4) == (94, 125)
    assert strided_up_size((375, 500), 16) == (384, 512)


def test_cam_to_label_threshold_and_keys():
    cams = np.array([[[0.1, 0.9], [0.3, 0.0]], [[0.2, 0.1], [0.6, 0.05]]], np.float32)
    keys = np.array([2, 0])
    lab = cam_to_label(cams, keys, 0.15)
    assert lab.tolist() == [[1, 3], [1, 0]]
    assert cam_to_label(np.zeros((0, 2, 2)), np.zeros(0, int), 0.15).tolist() == [[0, 0], [0, 0]]


def test_multiscale_cam_shapes_and_flip_equivariance():
    torch.manual_seed(0)
    net = CAMNet(build_backbone("resnet_tiny"), 3, pretrained=False).eval()
    net.classifier.weight.data.abs_()  # every class map non-zero somewhere
    keys = torch.tensor([0, 2])
    rng = np.random.default_rng(0)
    scales = (1.0, 0.5, 1.5, 2.0)
    with torch.no_grad():
        odd_img = rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)
        _, odd = multiscale_cam(net.cam, scaled_views(odd_img, scales), keys, (45, 61))
        img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)  # multiples of 16 at every scale: no padding
        s4, full = multiscale_cam(net.cam, scaled_views(img, scales), keys, (48, 64))
        s4f, fullf = multiscale_cam(net.cam, scaled_views(np.ascontiguousarray(img[:, ::-1]), scales), keys, (48, 64))
    assert odd.shape == (2, 45, 61)
    assert s4.shape == (2, 12, 16) and full.shape == (2, 48, 64)
    assert torch.all(s4 <= 1) and torch.all(s4 >= 0)
    assert torch.allclose(s4.amax((1, 2)), torch.ones(2), atol=1e-3)
    # image + flip inference: flipping the input flips the maps
    assert torch.allclose(fullf, full.flip(-1), atol=1e-4)


def test_merged_scales_upsample_to_a_multiple_of_16_then_crop():
    # one scale, one class: a 1 x 2 map [0, 2] of a 4 x 8 image. Full resolution: bilinear to
    # 16 x 16 (the next multiple of 16), cropped to 4 x 8; output column x samples the map at
    # x / 8 - 0.4375 (half-pixel centres), clamped to [0, 1], so columns 0-3 are 0 and 4-7 are
    # 2 * (0.0625, 0.1875, 0.3125, 0.4375); then divided by the maximum (+1e-5)
    raw = [torch.tensor([[[0.0, 2.0]]])]
    full = merge_scales(raw, (4, 8), 1)
    row = torch.tensor([0, 0, 0, 0, 0.125, 0.375, 0.625, 0.875])
    assert full.shape == (1, 4, 8) and full.is_contiguous()
    assert torch.allclose(full, (row / (0.875 + 1e-5)).expand(1, 4, 8))
    # stride 4: a 1 x 2 target, the map as it is
    assert torch.allclose(merge_scales(raw, (4, 8), 4), torch.tensor([[[0.0, 2 / (2 + 1e-5)]]]))
    # two scales add up before the division
    both = merge_scales([*raw, torch.tensor([[[1.0]]])], (4, 8), 4)
    assert torch.allclose(both, torch.tensor([[[1 / (3 + 1e-5), 3 / (3 + 1e-5)]]]))
    assert merge_scales([], (5, 7), 4).shape == (0, 2, 2) and merge_scales([], (5, 7), 1).shape == (0, 5, 7)
    with pytest.raises(ValueError, match="stride 4 and 1, not 16"):
        merge_scales(raw, (4, 8), 16)


def test_stored_scales_give_the_cams_of_multiscale_cam_bit_for_bit():
    torch.manual_seed(0)
    net = CAMNet(build_backbone("resnet_tiny"), 3, pretrained=False).eval()
    net.classifier.weight.data.abs_()
    keys = torch.tensor([1, 2])
    img = np.random.default_rng(1).integers(0, 256, (45, 61, 3), dtype=np.uint8)
    views = scaled_views(img, (1.0, 0.5, 1.5, 2.0))
    with torch.no_grad():
        s4, full = multiscale_cam(net.cam, views, keys, (45, 61))
        raw = multiscale_raw(net.cam, views, keys)
    group = {"keys": keys.numpy(), "image_size": np.array([45, 61])}
    group.update({f"cam_raw_{i}": r.numpy() for i, r in enumerate(raw)})
    assert [r.shape for r in raw] == [(2, 3, 4), (2, 2, 2), (2, 5, 6), (2, 6, 8)]  # stride 16 of each scale
    for stride, ref in ((4, s4), (1, full)):
        k, cams = stage_cams(group, stride)
        assert k.tolist() == [1, 2] and np.array_equal(cams, ref.numpy())
    # imported maps are read as stored
    assert stage_cams({"keys": np.array([3]), "cam_s4": np.ones((1, 2, 2))}, 4)[1].shape == (1, 2, 2)


def test_cam_is_classifier_projection():
    torch.manual_seed(0)
    net = CAMNet(build_backbone("resnet_tiny"), 4, pretrained=False).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits = net(x)
        f = net.features(x)
        lin = torch.einsum("bchw,kc->bkhw", f, net.classifier.weight[:, :, 0, 0]).mean((2, 3))
    # GAP then 1x1 conv equals the mean of the (pre-ReLU) class maps
    assert torch.allclose(logits, lin, atol=1e-4)
    assert (net.cam(x) >= 0).all()


def test_load_cam_backbone_takes_the_trained_backbone(tmp_path):
    torch.manual_seed(0)
    net = CAMNet(build_backbone("resnet_tiny"), 4, pretrained=False)
    atomic_save(
        {"model": net.state_dict(), "history": [{"epoch": 1, "total": 0.5}], "classes": ["a"]}, tmp_path / "model.pt"
    )
    torch.manual_seed(1)
    fresh = load_cam_backbone(build_backbone("resnet_tiny", last_stride=2), tmp_path / "model.pt")
    for k, v in net.backbone.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k
    with pytest.raises(WeightsError, match="nope.pt"):
        load_cam_backbone(build_backbone("resnet_tiny"), tmp_path / "nope.pt")


def test_views_are_resized_as_uint8_with_pil_bicubic():
    """The public code rescales the uint8 image with PIL bicubic, then normalises."""
    from PIL import Image

    from irn_core.data import normalise

    img = np.random.default_rng(1).integers(0, 256, (37, 50, 3), dtype=np.uint8)
    views = scaled_views(img, (1.0, 0.5, 1.5))
    assert [tuple(v.shape) for v in views] == [(3, 37, 50), (3, 18, 25), (3, 56, 75)]  # round(18.5) = 18
    assert torch.equal(views[0], torch.from_numpy(normalise(img)))
    by_hand = np.asarray(Image.fromarray(img).resize((25, 18), Image.BICUBIC))
    assert torch.equal(views[1], torch.from_numpy(normalise(by_hand)))


def test_label_resize_samples_pixel_centres():
    """PIL nearest (as torch's nearest-exact) takes source floor((x + 0.5) * in / out): shrinking
    0..5 to 3 columns picks columns 1, 3, 5 (torch's 'nearest' would pick 0, 2, 4)."""
    lab = np.tile(np.arange(6, dtype=np.uint8), (2, 1))
    assert pil_resize(lab, (2, 3), nearest=True)[0].tolist() == [1, 3, 5]
    # growing 0..2 to 5 columns: floor((x + 0.5) * 3 / 5) = 0, 0, 1, 2, 2
    assert pil_resize(lab[:, :3], (2, 5), nearest=True)[0].tolist() == [0, 0, 1, 2, 2]


def test_imagenet_weights_come_from_the_torch_cache(tmp_path, monkeypatch):
    """'imagenet' loads torchvision's file from $TORCH_HOME/hub/checkpoints; when it is absent and
    the download fails (no network), the error names the cache path. Nothing is downloaded here."""
    import urllib.error

    import torchvision

    from irn_core.models import imagenet_cache_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = imagenet_cache_path("resnet18")
    assert path == tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(WeightsError, match=f"not in the torch cache \\({path}\\).*no network"):
        build_backbone("resnet18", "imagenet")
    source = build_backbone("resnet18")
    path.parent.mkdir(parents=True)
    torch.save({**source.state_dict(), "fc.weight": torch.zeros(1000, 512)}, path)
    net = build_backbone("resnet18", "imagenet")
    assert torch.equal(net.conv1.weight, source.conv1.weight)
    with pytest.raises(WeightsError, match="'resnet_tiny' has no ImageNet weights"):
        build_backbone("resnet_tiny", "imagenet")


def test_merged_cams_do_not_depend_on_the_thread_count():
    # each reader merges the stored per-scale maps with its own thread count (random_walk with all
    # of them, baselines with one): torch's float32 bilinear kernel rounds some elements 1 ulp apart
    # between 1 and 2 threads at this size (found on a real image: 117 x 110, 3 classes)
    rng = np.random.default_rng(0)
    raw = [torch.from_numpy(rng.random((3, h, w), dtype=np.float32)) for h, w in ((8, 7), (4, 4), (11, 11), (15, 14))]
    threads = torch.get_num_threads()
    try:
        merged = {}
        for n in (1, 2):
            torch.set_num_threads(n)
            merged[n] = [merge_scales(raw, (117, 110), stride) for stride in (4, 1)]
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(merged[1], merged[2]):
        assert a.dtype == torch.float32 and torch.equal(a, b)
