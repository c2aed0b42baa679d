import json
import os

import numpy as np
import torch

from irn_core.coco import instances_json
from irn_core.datasets import union_ids
from irn_core.io import write_json
from irn_core.models import build_backbone
from irn_core.stages import coco_image_numbers
from irn_core.stages.maskrcnn import gt_coco
from irn_core.stages.summary import summary
from irn_core.supervised import (
    CocoInstances,
    build_deeplab,
    build_maskrcnn,
    keep_valid_targets,
    masks_to_boxes,
    predict_segmentation,
)
from irn_core.toy import TOY_CLASSES
from irn_core.voc import VOCDataset, read_split

TINY = {
    "fpn_channels": 16,
    "anchor_sizes": [16, 32, 64, 128, 256],
    "mask_head_channels": 16,
    "min_size": 96,
    "max_size": 128,
    "rois_per_image": 32,
    "detections_per_image": 10,
    "box_head_dim": 32,
    "rpn_pre_nms_top_n": {"train": 100, "test": 50},
    "rpn_post_nms_top_n": {"train": 50, "test": 25},
    "frozen_stages": 0,
}


def test_masks_to_boxes_pixel_edges():
    m = torch.zeros(2, 6, 8, dtype=torch.bool)
    m[0, 1:3, 2:5] = True
    m[1, 5, 7] = True
    assert masks_to_boxes(m).tolist() == [[2, 1, 5, 3], [7, 5, 8, 6]]
    assert masks_to_boxes(torch.zeros(0, 4, 4, dtype=torch.bool)).shape == (0, 4)


def test_keep_valid_targets_drops_empty_boxes():
    t = {
        "boxes": torch.tensor([[0.0, 0, 2, 2], [1, 1, 1, 3]]),
        "labels": torch.tensor([1, 2]),
        "masks": torch.zeros(2, 4, 4, dtype=torch.uint8),
    }
    out = keep_valid_targets([t])[0]
    assert out["labels"].tolist() == [1] and out["masks"].shape[0] == 1


def test_coco_dataset_reads_ground_truth(toy_root, tmp_path):
    voc = VOCDataset(toy_root, TOY_CLASSES)
    ids = read_split(toy_root / "ImageSets/Segmentation/train.txt")[:3]
    images, inst = [], []
    for n, i in enumerate(ids, start=1):
        masks, classes, _ = voc.instance_gt(i)
        images.append({"id": n, "file_name": f"{i}.jpg", "height": masks.shape[1], "width": masks.shape[2]})
        inst += [{"image_id": n, "mask": m, "class": int(c), "score": 1.0} for m, c in zip(masks, classes)]
    path = tmp_path / "gt.json"
    write_json(path, instances_json(images, inst, list(TOY_CLASSES)))
    data = CocoInstances(voc, path, train=False)
    img, target = data[0]
    masks, classes, _ = voc.instance_gt(ids[0])
    assert img.shape[1:] == masks.shape[1:] and img.min() >= 0 and img.max() <= 1
    assert np.array_equal(target["masks"].numpy().astype(bool), masks)
    assert target["labels"].tolist() == (classes + 1).tolist()
    assert (target["boxes"][:, 2:] > target["boxes"][:, :2]).all()


def test_maskrcnn_trains_and_predicts_on_cpu():
    torch.manual_seed(0)
    model = build_maskrcnn(build_backbone("resnet_tiny", last_stride=2), 3, TINY, frozen_bn=False)
    m = torch.zeros(1, 96, 96, dtype=torch.bool)
    m[0, 20:60, 30:70] = True
    target = {"boxes": masks_to_boxes(m), "labels": torch.tensor([2]), "masks": m.to(torch.uint8)}
    losses = model([torch.rand(3, 96, 96)], [target])
    assert {"loss_classifier", "loss_mask", "loss_objectness"} <= set(losses)
    sum(losses.values()).backward()
    model.eval()
    with torch.no_grad():
        out = model([torch.rand(3, 96, 96)])[0]
    assert out["masks"].shape[1:] == (1, 96, 96) and len(out["scores"]) <= 10


def test_frozen_stages_receive_no_gradient():
    """frozen_stages 2 (Detectron's FREEZE_AT): the stem and layer1 get no gradient and keep their
    weights through an SGD step; layer2 on and the heads train. 0 freezes nothing."""
    torch.manual_seed(0)
    m = torch.zeros(1, 96, 96, dtype=torch.bool)
    m[0, 20:60, 30:70] = True
    target = {"boxes": masks_to_boxes(m), "labels": torch.tensor([2]), "masks": m.to(torch.uint8)}
    for stages, frozen_names in ((2, ("conv1", "bn1", "layer1")), (0, ())):
        model = build_maskrcnn(
            build_backbone("resnet_tiny", last_stride=2), 3, dict(TINY, frozen_stages=stages), frozen_bn=False
        ).train()
        body = model.backbone.body
        before = {k: v.clone() for k, v in body.state_dict().items()}
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=0.1)
        sum(model([torch.rand(3, 96, 96)], [target]).values()).backward()
        opt.step()
        for name, p in body.named_parameters():
            frozen = name.split(".")[0] in frozen_names
            assert (p.grad is None) == frozen and p.requires_grad != frozen, name
        after = body.state_dict()
        assert all(after[k].equal(before[k]) for k in before if k.split(".")[0] in frozen_names)
        assert not after["layer2.0.conv1.weight"].equal(before["layer2.0.conv1.weight"])
        assert not any(
            isinstance(mod, torch.nn.BatchNorm2d) for n in frozen_names for mod in getattr(body, n).modules()
        )


def test_rpn_keeps_the_configured_proposals():
    """rpn_pre_nms_top_n: at most N proposals per FPN level and image before the NMS;
    rpn_post_nms_top_n: at most M per image after it; each for training and for test."""
    torch.manual_seed(0)
    cfg = dict(TINY, rpn_pre_nms_top_n={"train": 30, "test": 20}, rpn_post_nms_top_n={"train": 15, "test": 7})
    model = build_maskrcnn(build_backbone("resnet_tiny", last_stride=2), 3, cfg, frozen_bn=False)
    rpn, seen = model.rpn, {}
    select = rpn._get_top_n_idx

    def counted(objectness, num_anchors_per_level):
        idx = select(objectness, num_anchors_per_level)
        levels = torch.cat([torch.full((n,), k) for k, n in enumerate(num_anchors_per_level)])
        seen["per_level"] = [int((levels[i] == k).sum()) for i in idx for k in range(len(num_anchors_per_level))]
        return idx

    rpn._get_top_n_idx = counted
    images = [torch.rand(3, 128, 128), torch.rand(3, 96, 112)]
    m = torch.zeros(1, 128, 128, dtype=torch.bool)
    m[0, 20:60, 30:70] = True
    targets = [{"boxes": masks_to_boxes(m), "labels": torch.tensor([1]), "masks": m.to(torch.uint8)}] * 2
    targets[1] = {
        "boxes": torch.tensor([[10.0, 10, 50, 40]]),
        "labels": torch.tensor([2]),
        "masks": torch.zeros(1, 96, 112, dtype=torch.uint8),
    }
    for train, pre, post in ((True, 30, 15), (False, 20, 7)):
        model.train(train)
        assert (rpn.pre_nms_top_n(), rpn.post_nms_top_n()) == (pre, post)
        image_list, _ = model.transform(images, targets if train else None)
        features = model.backbone(image_list.tensors)
        with torch.no_grad():
            boxes, _ = rpn(image_list, features, [dict(t) for t in targets] if train else None)
        assert max(seen["per_level"]) <= pre and sum(seen["per_level"]) > pre  # several levels, each capped
        assert all(0 < len(b) <= post for b in boxes)


def test_deeplab_output_and_flip_average():
    torch.manual_seed(0)
    model = build_deeplab(build_backbone("resnet_tiny"), 5).eval()
    img = torch.randn(3, 50, 70)
    p = predict_segmentation(model, img)
    assert p.shape == (5, 50, 70)
    assert torch.allclose(p.sum(0), torch.ones(50, 70), atol=1e-5)
    assert torch.allclose(predict_segmentation(model, img.flip(-1)), p.flip(-1), atol=1e-5)


def test_summary_gathers_sections_and_seconds(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "train_cam.tsv").write_text("s\th:m:s\n12.5\t0:00:12\n")
    (tmp_path / "b" / "make_cam.tsv").write_text("s\th:m:s\n2.5\t0:00:02\n")
    os.utime(tmp_path / "b" / "train_cam.tsv", (1012.5, 1012.5))  # 1000 -> 1012.5
    os.utime(tmp_path / "b" / "make_cam.tsv", (1015.0, 1015.0))  # then 1012.5 -> 1015
    write_json(
        tmp_path / "cam.json", {"miou": 0.4, "best_miou": 0.5, "best_threshold": 0.3, "threshold": 0.15, "sweep": {}}
    )
    write_json(
        tmp_path / "labels.json",
        {
            "sem_pseudo": {"miou": 0.6, "per_class_iou": []},
            "ins_pseudo": {"map50": 0.3, "map25": 0.5, "map70": 0.1, "map75": 0.05},
        },
    )
    s = summary(
        {"cam": tmp_path / "cam.json", "labels": tmp_path / "labels.json"},
        tmp_path / "b",
        tmp_path / "summary.json",
        "r",
    )
    assert s["cam"] == {"miou": 0.4, "best_miou": 0.5, "best_threshold": 0.3, "threshold": 0.15}
    assert s["sem_pseudo"] == {"miou": 0.6} and s["ins_pseudo"]["map50"] == 0.3
    assert s["seconds"] == {
        "train_cam": 12.5,
        "make_cam": 2.5,
        "total": 15.0,
        "elapsed": 15.0,
        "elapsed_through_pseudo_labels": None,
    }
    assert json.loads((tmp_path / "summary.json").read_text()) == s


def test_gt_coco_numbers_train_images_as_the_pseudo_label_json(toy_root, tmp_path):
    """The pseudo-label JSON numbers union(train, eval) from 1 (train first); the ground-truth
    JSON of the train split numbers its list from 1: equal ids, equal order, no shared file."""
    train = read_split(toy_root / "ImageSets/Segmentation/train.txt")
    val = read_split(toy_root / "ImageSets/Segmentation/val.txt")
    cfg = {
        "dataset": {
            "kind": "toy",
            "root": str(toy_root),
            "classes": list(TOY_CLASSES),
            "train_list": "ImageSets/Segmentation/train.txt",
            "val_list": "ImageSets/Segmentation/val.txt",
        }
    }
    gt_coco(cfg, "train_list", str(tmp_path / "gt.json"))
    gt = json.loads((tmp_path / "gt.json").read_text())
    pseudo_numbers = coco_image_numbers(union_ids(train, val))
    assert [(im["id"], im["file_name"]) for im in gt["images"]] == [(pseudo_numbers[i], f"{i}.jpg") for i in train]
    assert [im["id"] for im in gt["images"]] == list(range(1, len(train) + 1))
    voc = VOCDataset(toy_root, TOY_CLASSES)
    assert len(gt["annotations"]) == sum(len(voc.instance_gt(i)[1]) for i in train)


def test_pretrained_backbones_keep_frozen_batchnorm_through_train():
    """torchvision's FrozenBatchNorm2d: model.train() every epoch cannot make the statistics learn."""
    from torchvision.ops import FrozenBatchNorm2d

    torch.manual_seed(0)
    model = build_maskrcnn(build_backbone("resnet_tiny", last_stride=2), 3, TINY, frozen_bn=True).train()
    body = model.backbone.body
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in body.modules())
    frozen = [m for m in body.modules() if isinstance(m, FrozenBatchNorm2d)]
    assert frozen and all(not list(m.parameters()) for m in frozen)
    before = frozen[0].running_mean.clone()
    model.backbone(torch.randn(2, 3, 64, 64))
    assert frozen[0].running_mean.equal(before)
    # a model trained with ordinary BatchNorm loads into the frozen one (evaluation builds it so)
    plain = build_maskrcnn(build_backbone("resnet_tiny", last_stride=2), 3, TINY, frozen_bn=False)
    model.load_state_dict(plain.state_dict())
    deeplab = build_deeplab(build_backbone("resnet_tiny"), 5, frozen_bn=True)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in deeplab.backbone.modules())


def test_deeplab_multiscale_flip_and_crf():
    from irn_core.crf import crf_probabilities
    from irn_core.data import scaled_views

    torch.manual_seed(0)
    model = build_deeplab(build_backbone("resnet_tiny"), 3).eval()
    img = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    one = predict_segmentation(model, scaled_views(img, [1.0]))
    both = predict_segmentation(model, scaled_views(img, [1.0, 0.5]), size=(48, 64))
    half = predict_segmentation(model, scaled_views(img, [0.5]), size=(48, 64))
    assert torch.allclose(both, (one + half) / 2, atol=1e-6)  # the mean over the scales
    # the CRF keeps a confident, uniform labelling: probabilities stay normalised, argmax unchanged
    probs = np.zeros((3, 20, 30), np.float32)
    probs[1] = 0.9
    probs[[0, 2]] = 0.05
    out = crf_probabilities(np.full((20, 30, 3), 128, np.uint8), probs)
    assert out.shape == (3, 20, 30) and np.allclose(out.sum(0), 1, atol=1e-4) and (out.argmax(0) == 1).all()
