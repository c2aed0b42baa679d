import numpy as np
import pytest

from irn_core.evaluate import InstanceEvaluator, confusion, mask_iou, mean_iou, semantic_report, voc_ap


def _box(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_confusion_and_miou_by_hand():
    gt = np.array([[0, 0, 1, 1], [0, 255, 1, 2]])
    pred = np.array([[0, 1, 1, 1], [0, 2, 1, 0]])
    conf = confusion(pred, gt, 3)
    assert conf.tolist() == [[2, 1, 0], [0, 3, 0], [1, 0, 0]]
    # IoU: bg 2/(3+3-2)=0.5, c1 3/(4+3-3)=0.75, c2 0/(1+0)=0
    assert mean_iou(conf) == pytest.approx((0.5 + 0.75 + 0) / 3)
    with pytest.raises(ValueError):
        confusion(np.array([5]), np.array([0]), 3)


def test_class_absent_everywhere_is_nan_and_skipped():
    gt = np.array([[0, 1]])
    conf = confusion(np.array([[0, 1]]), gt, 3)
    assert mean_iou(conf) == 1.0


def test_voc_ap_envelope():
    # precision 1, 0.5, 2/3 at recall 0.5, 0.5, 1 -> envelope 1 up to 0.5, 2/3 after
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_mask_iou():
    a = np.stack([_box(4, 4, 0, 2, 0, 2), _box(4, 4, 0, 4, 0, 4)])
    b = np.stack([_box(4, 4, 0, 2, 0, 4)])
    assert mask_iou(a, b)[:, 0].tolist() == pytest.approx([0.5, 0.5])


def test_perfect_prediction_is_one():
    ev = InstanceEvaluator(2)
    gt = np.stack([_box(8, 8, 0, 4, 0, 4), _box(8, 8, 4, 8, 4, 8)])
    ev.add(gt, np.array([0, 1]), np.array([0.9, 0.8]), gt, np.array([0, 1]))
    assert all(v == 1.0 for v in ev.summary().values())


def test_duplicate_is_false_positive():
    ev = InstanceEvaluator(1)
    gt = _box(8, 8, 0, 4, 0, 4)[None]
    ev.add(np.stack([gt[0], gt[0]]), np.array([0, 0]), np.array([0.9, 0.8]), gt, np.array([0]))
    # TP then FP: precision 1 at recall 1 -> AP still 1
    assert ev.summary()[0.5] == 1.0
    ev = InstanceEvaluator(1)
    ev.add(np.stack([gt[0], gt[0]]), np.array([0, 0]), np.array([0.8, 0.9]), gt, np.array([0]))
    assert ev.summary()[0.5] == 1.0  # equal masks: order does not matter
    # duplicate ranked first, true one second with a second object missed
    ev = InstanceEvaluator(1)
    gts = np.stack([_box(8, 8, 0, 4, 0, 4), _box(8, 8, 4, 8, 4, 8)])
    preds = np.stack([gts[0], gts[0], gts[1]])
    ev.add(preds, np.array([0, 0, 0]), np.array([0.9, 0.8, 0.7]), gts, np.array([0, 0]))
    # TP, FP, TP: precision 1 at recall .5, 2/3 at recall 1 -> 0.5 + 0.5 * 2/3
    assert ev.summary()[0.5] == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_score_order_matters():
    gts = np.stack([_box(8, 8, 0, 4, 0, 4), _box(8, 8, 4, 8, 4, 8)])
    wrong = _box(8, 8, 0, 4, 4, 8)
    preds = np.stack([gts[0], wrong, gts[1]])
    hi = InstanceEvaluator(1)
    hi.add(preds, np.zeros(3, int), np.array([0.9, 0.1, 0.8]), gts, np.zeros(2, int))  # TP TP FP
    lo = InstanceEvaluator(1)
    lo.add(preds, np.zeros(3, int), np.array([0.9, 0.85, 0.8]), gts, np.zeros(2, int))  # TP FP TP
    assert hi.summary()[0.5] == 1.0
    assert lo.summary()[0.5] == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_iou_thresholds():
    gt = _box(10, 10, 0, 10, 0, 10)[None]
    pred = _box(10, 10, 0, 6, 0, 10)[None]  # IoU 0.6
    ev = InstanceEvaluator(1)
    ev.add(pred, np.array([0]), np.array([1.0]), gt, np.array([0]))
    s = ev.summary()
    assert s[0.25] == 1.0 and s[0.5] == 1.0 and s[0.7] == 0.0 and s[0.75] == 0.0


def test_void_band_counts_against_the_prediction():
    """Published protocol: the ground truth excludes void, the prediction is taken whole. A 4x4
    object with a one-pixel void ring, predicted as the 6x6 square including the ring: IoU 16/36."""
    obj = np.zeros((8, 8), np.uint8)
    obj[1:7, 1:7] = 255  # void ring
    obj[2:6, 2:6] = 1  # the object
    gt = (obj == 1)[None]  # what VOCDataset.instance_gt gives: the id's pixels, void excluded
    pred = _box(8, 8, 1, 7, 1, 7)[None]
    assert mask_iou(pred, gt)[0, 0] == pytest.approx(16 / 36)
    ev = InstanceEvaluator(1, thresholds=(0.25, 0.5))
    ev.add(pred, np.array([0]), np.array([1.0]), gt, np.array([0]))
    assert ev.summary() == {0.25: 1.0, 0.5: 0.0}


def test_equal_scores_take_the_later_prediction_first():
    """Ties follow the protocol's argsort()[::-1]: of two predictions with equal scores on one
    object, the later one is matched (TP) and the earlier is the duplicate (FP). Across the class
    the FP (earlier) then ranks first: precision 0 at recall 0, 1/2 at recall 1 -> AP 0.5."""
    gt = _box(8, 8, 0, 4, 0, 4)[None]
    a = _box(8, 8, 0, 4, 0, 3)  # IoU 0.75
    b = _box(8, 8, 0, 4, 0, 4)  # IoU 1
    ev = InstanceEvaluator(1, thresholds=(0.5,))
    ev.add(np.stack([a, b]), np.array([0, 0]), np.array([0.9, 0.9]), gt, np.array([0]))
    assert ev.matches[0][0] == [1, 0]  # b (index 1) first: TP; then a: duplicate
    assert ev.summary()[0.5] == pytest.approx(0.5)
    # with distinct scores the order is the scores' own
    ev = InstanceEvaluator(1, thresholds=(0.5,))
    ev.add(np.stack([a, b]), np.array([0, 0]), np.array([0.9, 0.8]), gt, np.array([0]))
    assert ev.summary()[0.5] == 1.0


def test_class_absent_from_ground_truth_is_skipped():
    ev = InstanceEvaluator(3)
    gt = _box(8, 8, 0, 4, 0, 4)[None]
    # class 1: perfect; class 2: only a false positive, no ground truth anywhere -> skipped
    ev.add(np.stack([gt[0], _box(8, 8, 4, 8, 4, 8)]), np.array([1, 2]), np.array([0.9, 0.9]), gt, np.array([1]))
    ap = ev.average_precision()
    assert np.isnan(ap[0, 0]) and np.isnan(ap[0, 2]) and ap[0, 1] == 1.0
    assert ev.summary()[0.5] == 1.0


def test_missed_class_counts_zero_and_unmatched_variant():
    ev = InstanceEvaluator(2)
    a, b = _box(8, 8, 0, 4, 0, 4), _box(8, 8, 0, 4, 4, 8)
    ev.add(a[None], np.array([0]), np.array([0.5]), np.stack([a, b]), np.array([0, 1]))
    assert ev.summary()[0.5] == pytest.approx(0.5)  # class 0 AP 1, class 1 AP 0
    # second prediction overlaps the matched instance best, the other one enough: VOC -> FP,
    # greedy_unmatched -> TP
    big = _box(8, 8, 0, 4, 0, 8)
    gts = np.stack([_box(8, 8, 0, 4, 0, 5), _box(8, 8, 0, 4, 5, 8)])
    preds = np.stack([gts[0], big])
    voc = InstanceEvaluator(1, thresholds=(0.25,))
    voc.add(preds, np.zeros(2, int), np.array([0.9, 0.8]), gts, np.zeros(2, int))
    greedy = InstanceEvaluator(1, thresholds=(0.25,), greedy_unmatched=True)
    greedy.add(preds, np.zeros(2, int), np.array([0.9, 0.8]), gts, np.zeros(2, int))
    assert voc.summary()[0.25] == pytest.approx(0.5) and greedy.summary()[0.25] == 1.0


def test_semantic_report():
    pred = np.array([[0, 1], [1, 1]])
    gt = np.array([[0, 1], [0, 1]])
    r = semantic_report(confusion(pred, gt, 3), images=1)
    assert r["per_class_iou"] == [0.5, 2 / 3, None]  # an absent class is null in JSON, never NaN
    assert r["miou"] == pytest.approx((0.5 + 2 / 3) / 2) and r["images"] == 1
