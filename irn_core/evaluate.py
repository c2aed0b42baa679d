"""Evaluation: semantic mIoU and PASCAL-VOC-style instance mAP^r (METHOD.md 7).

mAP^r follows the protocol the paper's numbers come from (chainercv's
``eval_instance_segmentation_voc``, which the authors' ``eval_ins_seg.py`` calls): per image and
class, predictions are taken in score order and each one is matched to the ground-truth instance
of its class with the highest mask IoU; it is a true positive when that IoU reaches the threshold
and that instance is not matched yet, otherwise a false positive (so a duplicate is a false
positive). ``greedy_unmatched=True`` instead matches to the best instance among those still
unmatched. Ground-truth masks are the pixels of their instance id in ``SegmentationObject``, so
they exclude the void band; predicted masks are taken whole (void pixels they cover count in the
union). Score order is ``argsort()[::-1]``, as in the protocol: among equal scores the later
prediction comes first. AP is the area under the monotone precision envelope; classes without
ground truth are skipped in the mean.
"""

from __future__ import annotations

import numpy as np

from .datasets import IGNORE


def confusion(pred: np.ndarray, gt: np.ndarray, n: int) -> np.ndarray:
    """(n, n) int64 confusion matrix, rows = ground truth; gt pixels equal to 255 are ignored."""
    valid = gt != IGNORE
    if (pred[valid] >= n).any() or (gt[valid] >= n).any():
        raise ValueError(f"label values must be < {n} (or 255 in ground truth)")
    idx = gt[valid].astype(np.int64) * n + pred[valid].astype(np.int64)
    return np.bincount(idx, minlength=n * n).reshape(n, n)


def iou_from_confusion(conf: np.ndarray) -> np.ndarray:
    """Per-class IoU (nan where a class is absent from both prediction and ground truth)."""
    inter = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), np.nan)


def mean_iou(conf: np.ndarray) -> float:
    return float(np.nanmean(iou_from_confusion(conf)))


def semantic_report(conf: np.ndarray, images: int) -> dict:
    """The evaluation record of a semantic segmentation: mIoU, per-class IoU, image count."""
    return {
        "miou": mean_iou(conf),
        "per_class_iou": [None if np.isnan(x) else float(x) for x in iou_from_confusion(conf)],
        "images": images,
    }


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every mask of a (N, H, W) and of b (M, H, W): (N, M) float64."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    fa = a.reshape(len(a), -1).astype(np.float32)
    fb = b.reshape(len(b), -1).astype(np.float32)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    return inter / np.maximum(union, 1)


def voc_ap(rec: np.ndarray, prec: np.ndarray) -> float:
    """Area under the interpolated (monotone envelope) precision/recall curve."""
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


class InstanceEvaluator:
    """Accumulates predictions and ground truth image by image; ``summary`` gives mAP^r."""

    def __init__(self, num_classes: int, thresholds=(0.25, 0.5, 0.7, 0.75), greedy_unmatched: bool = False):
        self.num_classes = num_classes
        self.thresholds = tuple(thresholds)
        self.greedy_unmatched = greedy_unmatched
        self.n_pos = np.zeros(num_classes, np.int64)
        self.scores = [[] for _ in range(num_classes)]
        self.matches = [[[] for _ in self.thresholds] for _ in range(num_classes)]

    def add(
        self, masks: np.ndarray, classes: np.ndarray, scores: np.ndarray, gt_masks: np.ndarray, gt_classes: np.ndarray
    ) -> None:
        """One image: predicted masks (N, H, W) bool, classes (N,), scores (N,); ground-truth
        masks (M, H, W) bool (void excluded), classes (M,)."""
        masks, gt_masks = np.asarray(masks, bool), np.asarray(gt_masks, bool)
        classes, gt_classes = np.asarray(classes), np.asarray(gt_classes)
        scores = np.asarray(scores, np.float64)
        for c in np.union1d(np.unique(classes), np.unique(gt_classes)).astype(int):
            p = np.nonzero(classes == c)[0]
            g = np.nonzero(gt_classes == c)[0]
            self.n_pos[c] += len(g)
            if len(p) == 0:
                continue
            p = p[scores[p].argsort()[::-1]]
            iou = mask_iou(masks[p], gt_masks[g])
            self.scores[c].extend(scores[p].tolist())
            for t, thr in enumerate(self.thresholds):
                self.matches[c][t].extend(self._match(iou, thr))

    def _match(self, iou: np.ndarray, thr: float) -> list[int]:
        taken = np.zeros(iou.shape[1], bool)
        out = []
        for row in iou:
            if row.size == 0:
                out.append(0)
                continue
            if self.greedy_unmatched:
                cand = np.where(taken, -1.0, row)
                j = int(cand.argmax())
                ok = cand[j] >= thr
            else:
                j = int(row.argmax())
                ok = row[j] >= thr and not taken[j]
            if ok:
                taken[j] = True
            out.append(int(ok))
        return out

    def average_precision(self) -> np.ndarray:
        """(num_thresholds, num_classes) AP, nan for classes without ground truth."""
        ap = np.full((len(self.thresholds), self.num_classes), np.nan)
        for c in range(self.num_classes):
            if self.n_pos[c] == 0:
                continue
            order = np.asarray(self.scores[c]).argsort()[::-1]
            for t in range(len(self.thresholds)):
                tp = np.asarray(self.matches[c][t], np.float64)[order]
                if tp.size == 0:
                    ap[t, c] = 0.0
                    continue
                ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
                ap[t, c] = voc_ap(ctp / self.n_pos[c], ctp / np.maximum(ctp + cfp, np.finfo(float).eps))
        return ap

    def summary(self) -> dict[float, float]:
        """{threshold: mAP^r} over the classes that have ground truth."""
        ap = self.average_precision()
        return {
            thr: float(np.nanmean(ap[t])) if np.isfinite(ap[t]).any() else float("nan")
            for t, thr in enumerate(self.thresholds)
        }
