"""Where config/voc2012.yaml follows the authors' public implementation (jiwoon-ahn/irn), item by
item, on hand-sized inputs whose right answer is worked out here."""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import load_config

from irn_core.checkpoints import Checkpointer
from irn_core.data import normalise
from irn_core.models import CAMNet, IRNet, build_backbone
from irn_core.optim import lr_schedule, make_optimizer
from irn_core.relations import boundary_affinity, irn_losses, pair_labels, public_source_region, search_directions
from irn_core.stages.irnet import (
    _pad_right,
    build_irnet,
    irn_forward,
    mean_displacement_crops,
    param_groups,
    top_left_crop,
)
from irn_core.train import fit

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_public_loss_takes_pairs_from_its_source_region_only():
    """Radius 3: r' = 2, sources in rows [0, 4) and columns [2, 4) of a 6x6 map; there are 12
    forward directions and every pair from those 8 sources ends inside the map: 96 pairs."""
    region = public_source_region(6, 6, 3)
    assert region.nonzero().tolist() == [[y, x] for y in range(4) for x in (2, 3)]
    assert len(search_directions(3)) == 12
    label = torch.zeros(1, 6, 6, dtype=torch.int64)  # all background
    p_bg, _, _ = pair_labels(label, 3)
    assert int((p_bg & region).sum()) == 96 and int(p_bg.sum()) > 96
    torch.manual_seed(0)
    edge = torch.randn(1, 1, 6, 6)
    aff = boundary_affinity(torch.sigmoid(edge[:, 0]), 3)
    expect = (-torch.log(aff + 1e-5) * (p_bg & region)).sum() / (96 + 1e-5)
    got = irn_losses(edge, torch.zeros(1, 2, 6, 6), label, 3, pairs_at_border=False)["edge_pos_bg"]
    assert torch.allclose(got, expect)
    everywhere = irn_losses(edge, torch.zeros(1, 2, 6, 6), label, 3, pairs_at_border=True)["edge_pos_bg"]
    assert not torch.allclose(everywhere, expect)


class _PoolNet(nn.Module):
    """Stand-in IRNet: boundary logits = 4x4 mean of channel 0, displacement = 4x4 mean of
    channels 0-1; records the input size it saw."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean_shift", torch.zeros(2))
        self.seen = []

    def forward(self, x):
        self.seen.append(tuple(x.shape[-2:]))
        return F.avg_pool2d(x[:, :1], 4), F.avg_pool2d(x[:, :2], 4)


def test_flip_alignment_at_inference():
    """A 4x10 image, bright column at x = 2 (cell 0 of the stride-4 map, 1/4 of it lit). Aligned
    (pad, then flip): the flipped view maps back onto cell 0. Public (flip, then pad): the column
    lands at x = 7 of the flipped image, cell 1, and comes back in cell 1: (-10) mod 4 = 2 px off."""
    img = torch.zeros(3, 4, 10)
    img[:, :, 2] = 1
    aligned, _ = irn_forward(_PoolNet(), img, flip_aligned=True)
    public, _ = irn_forward(_PoolNet(), img, flip_aligned=False)
    s = torch.sigmoid
    assert torch.allclose(aligned[0], s(torch.tensor([0.25, 0.0, 0.0])))
    assert torch.allclose(public[0], s(torch.tensor([0.125, 0.125, 0.0])))


def test_boundary_logits_fused_over_scales():
    """An 8x8 image lit (1) on its top-left 4x4 block: at scale 1 the stride-4 logits are
    [[1, 0], [0, 0]]. At scale 2 (16x16, bilinear, half-pixel centres) the lit rows and columns are
    f = 1 for 0 - 6, 0.75 at 7, 0.25 at 8, then 0; the 4x4 cells' means are f's 4-px means
    m = [1, 0.9375, 0.0625, 0] multiplied per axis, and each cell of the 2x2 grid takes the largest
    of its 2x2 finer cells: [[1, 0.0625], [0.0625, 0.0625^2]]. The fused logits are the mean of the
    two; the displacement field is scale 1's alone. The public [1.0] is the plain single-scale map."""
    img = torch.zeros(3, 8, 8)
    img[:, :4, :4] = 1
    net = _PoolNet()
    single, disp1 = irn_forward(net, img)
    assert torch.equal(single, torch.sigmoid(torch.tensor([[1.0, 0.0], [0.0, 0.0]])))
    fused, disp2 = irn_forward(net, img, scales=[1.0, 2.0])
    m = torch.tensor([1.0, 0.9375, 0.0625, 0.0])
    fine = m[:, None] * m[None, :]
    coarse = fine.reshape(2, 2, 2, 2).amax((1, 3))
    assert torch.allclose(coarse, torch.tensor([[1.0, 0.0625], [0.0625, 0.0625**2]]))
    expect = (torch.tensor([[1.0, 0.0], [0.0, 0.0]]) + coarse) / 2
    assert torch.allclose(fused, torch.sigmoid(expect), atol=1e-6)
    assert torch.equal(disp1, disp2)
    assert net.seen == [(16, 16), (16, 16), (16, 16)]  # padded to 16: scale 1, scale 1 again, scale 2
    only_two, _ = irn_forward(net, img, scales=[2.0])  # scale 1 still gives the displacement field
    assert torch.allclose(only_two, torch.sigmoid(coarse), atol=1e-6)


def test_inference_padding():
    net = _PoolNet()
    img = torch.zeros(3, 37, 50)
    irn_forward(net, img)
    irn_forward(net, img, pad_to=512)
    irn_forward(net, torch.zeros(3, 37, 600), pad_to=512)  # wider than 512: to a multiple of 16
    assert net.seen == [(48, 64), (512, 512), (512, 608)]
    assert _pad_right(img, 512)[:, :37, :50].equal(img) and not _pad_right(img, 512)[:, 37:].any()


def test_public_mean_displacement_over_top_left_crops():
    """Three 8x8 images of constant colour, crops of 16: the real pixels fill 4 of the 16 stride-4
    cells, so each crop's mean is a quarter of the normalised value; batches of 2 drop the third
    image (the public loader's drop_last)."""

    class Voc:
        values = {"a": 10, "b": 200, "c": 90}  # noqa: RUF012 - a read-only table

        def load_image(self, i):
            return np.full((8, 8, 3), self.values[i], np.uint8)

    def norm(v):
        return normalise(np.full((1, 1, 3), v, np.uint8))[:2, 0, 0]

    crop = top_left_crop(torch.ones(3, 8, 8), 16)
    assert crop.shape == (3, 16, 16) and crop[:, :8, :8].eq(1).all() and crop.sum() == 3 * 64
    got = mean_displacement_crops(_PoolNet(), Voc(), ["a", "b", "c"], crop=16, batch_size=2, device="cpu")
    expect = (norm(10) + norm(200)) / 2 / 4
    assert np.allclose(got.numpy(), expect, atol=1e-6)


def test_public_cam_network_with_imagenet_weights():
    """Gradient stops after layer2; BatchNorm statistics stay fixed while the affine weights of the
    later stages train; conv1 and bn1 are frozen; the classifier starts from PyTorch's default
    init, bounded by 1/sqrt(fan_in) (kaiming_normal_ from scratch exceeds it)."""
    torch.manual_seed(0)
    net = CAMNet(build_backbone("resnet_tiny"), 3, pretrained=True).train()
    fan_in = net.classifier.weight.shape[1]
    assert net.classifier.weight.abs().max() <= 1 / fan_in**0.5
    scratch = CAMNet(build_backbone("resnet_tiny"), 3, pretrained=False)
    assert scratch.classifier.weight.abs().max() > 1 / fan_in**0.5
    bn = net.backbone.layer3[0].bn1
    before = bn.running_mean.clone()
    net(torch.randn(2, 3, 64, 64)).sum().backward()
    b = net.backbone
    assert bn.running_mean.equal(before)
    for frozen in (b.conv1, b.bn1, b.layer1, b.layer2):
        assert all(p.grad is None for p in frozen.parameters())
    assert bn.weight.grad is not None and b.layer4[0].conv1.weight.grad is not None
    trainable, head = net.param_groups()
    assert {id(p) for p in trainable} == {id(p) for m in (b.layer3, b.layer4) for p in m.parameters()}


def test_irnet_upsamples_before_relu():
    """Each deeper level is upsampled, then passed through ReLU (the public order). Bilinear x2 of
    [-1, 1] is [-1, -0.5, 0.5, 1]: ReLU after gives [0, 0, 0.5, 1], before would give
    [0, 0.25, 0.75, 1] -- the two orders differ."""
    t = torch.tensor([[[[-1.0, 1.0]]]])
    up = F.interpolate(t, (1, 4), mode="bilinear", align_corners=False)
    assert F.relu(up).flatten().tolist() == [0.0, 0.0, 0.5, 1.0]
    assert F.interpolate(F.relu(t), (1, 4), mode="bilinear", align_corners=False).flatten().tolist() == [
        0.0,
        0.25,
        0.75,
        1.0,
    ]
    torch.manual_seed(0)
    net = IRNet(build_backbone("resnet_tiny")).eval()
    for unit in [*net.edge, *net.dp, net.dp_fuse8]:
        assert [type(m) for m in unit] == [nn.Conv2d, nn.GroupNorm]  # no ReLU before the upsampling
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats = net.backbone.levels(x)
        edge, _ = net(x)
        up = lambda t: F.interpolate(t, (16, 16), mode="bilinear", align_corners=False)
        public = net.edge_out(torch.cat([F.relu(up(m(f))) for m, f in zip(net.edge, feats)], 1))
        other = net.edge_out(torch.cat([up(F.relu(m(f))) for m, f in zip(net.edge, feats)], 1))
    assert torch.allclose(edge, public, atol=1e-6) and not torch.allclose(edge, other, atol=1e-4)


def test_public_sgd_momentum():
    """loss = p (gradient 1), lr 0.1, two steps: momentum m gives p = 1 - 0.1 - 0.1 (1 + m)."""
    for m, expect in ((1e-4, 1 - 0.1 - 0.1 * (1 + 1e-4)), (0.9, 1 - 0.1 - 0.19)):
        p = nn.Parameter(torch.ones(1, dtype=torch.float64))
        opt = make_optimizer("sgd", [{"params": [p], "lr": 0.1}], weight_decay=0.0, momentum=m)
        for _ in range(2):
            opt.zero_grad()
            p.sum().backward()
            opt.step()
        assert p.item() == pytest.approx(expect, abs=1e-12)
    voc = load_config("config/voc2012.yaml")
    assert voc["cam"]["momentum"] == voc["irn"]["momentum"] == 1e-4


def test_detectron_step_schedule_by_iterations(tmp_path):
    """Milestones [3, 5], gamma 0.1, warm-up 2 from 1/3: factors 1/3, 2/3, 1, 0.1, 0.1, 0.01."""
    settings = {"lr_schedule": "steps", "lr_steps": [3, 5], "lr_gamma": 0.1, "warmup_iters": 2}
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule, factors = lr_schedule(opt, 6, settings), []
    for _ in range(6):
        factors.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert factors == pytest.approx([1 / 3, 2 / 3, 1, 0.1, 0.1, 0.01], rel=1e-12)
    # 5 iterations of 2 batches per epoch: 3 epochs, the last one stops after its first batch
    model = nn.Linear(1, 1)
    seen = []

    def step(m, batch):
        seen.append(batch)
        return {"total": m(batch).sum()}

    c = {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 0.0, "epochs": 99, "iterations": 5, **settings}
    hist = fit(
        model,
        [{"params": model.parameters(), "lr": 0.1}],
        lambda e: [torch.ones(1, 1), torch.ones(1, 1)],
        step,
        c,
        Checkpointer(tmp_path),
        "t",
    )
    assert len(seen) == 5 and [h["epoch"] for h in hist] == [1, 2, 3]


def test_voc2012_downstream_settings():
    voc = load_config("config/voc2012.yaml")
    m, d = voc["maskrcnn"], voc["deeplab"]
    assert (m["init"], m["batch_size"], m["lr"], m["iterations"], m["lr_steps"]) == (
        "imagenet",
        4,
        0.01,
        18000,
        [12000, 16000],
    )
    assert (m["min_size"], m["max_size"], m["lr_schedule"]) == (512, 800, "steps")
    # the authors' Detectron config (jiwoon-ahn/irn issue #11): RPN_PRE_NMS_TOP_N 2000 / 1000 per FPN
    # level, TEST.RPN_POST_NMS_TOP_N 1000 (train: Detectron's 2000); FREEZE_AT 2 (stem and res2)
    assert m["rpn_pre_nms_top_n"] == {"train": 2000, "test": 1000}
    assert m["rpn_post_nms_top_n"] == {"train": 2000, "test": 1000} and m["frozen_stages"] == 2
    assert d["test_flip"] and d["crf"] and len(d["test_scales"]) > 1
    irn = voc["irn"]
    assert (irn["pairs_at_border"], irn["mean_shift"], irn["infer_pad_to"], irn["flip_aligned"]) == (
        False,
        "crops",
        512,
        False,
    )
    assert irn["infer_scales"] == [1.0]  # the public boundary map: the image's own scale
    assert voc["labels"]["crf"] is False  # the public labels are the walk's, thresholded, not refined


def test_irnet_backbone_is_frozen_unless_it_trains():
    """Public IRNet: one SGD step on the IRNet losses leaves the backbone's weights and BatchNorm
    statistics as they were; with ``train_backbone`` the weights move by -lr x gradient, the
    statistics still do not (the backbone stays in eval mode), and the model loads into the
    inference network (same state keys)."""
    label = torch.zeros(2, 16, 16, dtype=torch.int64)
    label[:, 4:12, 4:12] = 1
    for train_backbone in (False, True):
        torch.manual_seed(0)
        net = IRNet(build_backbone("resnet_tiny"), train_backbone).train()
        edge_p, dp_p, bb_p = net.trainable()
        assert len(bb_p) == (len(list(net.backbone.parameters())) if train_backbone else 0)
        before = {k: v.clone() for k, v in net.backbone.state_dict().items()}
        opt = torch.optim.SGD([{"params": edge_p + dp_p + bb_p, "lr": 0.1}])
        edge, disp = net(torch.randn(2, 3, 64, 64))
        irn_losses(edge, disp, label, 3)["total"].backward()
        grad = net.backbone.conv1.weight.grad
        assert (grad is not None) == train_backbone
        opt.step()
        after = net.backbone.state_dict()
        for k, v in before.items():
            if "running" in k or "num_batches" in k or not train_backbone:
                assert torch.equal(after[k], v), k
        if train_backbone:
            assert torch.allclose(after["conv1.weight"], before["conv1.weight"] - 0.1 * grad)
            assert not torch.equal(after["conv1.weight"], before["conv1.weight"])
        IRNet(build_backbone("resnet_tiny")).load_state_dict(net.state_dict())


def test_irnet_backbone_lr_is_a_multiple_of_the_boundary_branch_rate(tmp_path):
    """``irn.backbone_lr`` 0 (the public code): two groups, boundary branch at lr and displacement
    branch at 10 lr, the backbone frozen; 0.1: a third group, the backbone's parameters at 0.1 lr,
    and the backbone starts from the trained CAM network's weights."""
    torch.manual_seed(0)
    cam = CAMNet(build_backbone("resnet_tiny"), 4, pretrained=False)
    torch.save(cam.state_dict(), tmp_path / "cam.pt")
    for factor in (0, 0.1):
        cfg = {"cam": {"backbone": "resnet_tiny"}, "irn": {"init": "cam", "backbone_lr": factor}}
        net = build_irnet(cfg, str(tmp_path / "cam.pt"))
        groups = param_groups(net, {"lr": 0.1, "backbone_lr": factor})
        assert [g["lr"] for g in groups] == ([0.1, 1.0] if factor == 0 else [0.1, 1.0, pytest.approx(0.01)])
        n_backbone = len(list(net.backbone.parameters()))
        assert sum(len(g["params"]) for g in groups) == 17 + 22 + (n_backbone if factor else 0)
        assert torch.equal(net.backbone.conv1.weight, cam.backbone.conv1.weight)
