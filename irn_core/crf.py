"""Dense CRF (Kraehenbuehl & Koltun 2011, pydensecrf): the refinement of the confident regions
mined from CAMs (METHOD.md 3) and DeepLab's post-processing (METHOD.md 6)."""

from __future__ import annotations

import numpy as np


def crf_refine(
    image: np.ndarray, labels: np.ndarray, n_labels: int, iterations: int = 10, gt_prob: float = 0.7
) -> np.ndarray:
    """Dense-CRF refinement of a (H, W) label map 0..n_labels-1 on a (H, W, 3) uint8 image.

    Unary from labels (ground-truth probability ``gt_prob``); Gaussian kernel sxy=3, compat=3;
    bilateral kernel sxy=50, srgb=5, compat=10 (the public settings).
    """
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_labels

    h, w = labels.shape
    d = dcrf.DenseCRF2D(w, h, n_labels)
    d.setUnaryEnergy(unary_from_labels(labels, n_labels, gt_prob=gt_prob, zero_unsure=False))
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=50, srgb=5, rgbim=np.array(image, dtype=np.uint8, order="C"), compat=10)
    q = d.inference(iterations)
    return np.argmax(np.asarray(q).reshape(n_labels, h, w), axis=0)


def crf_probabilities(image: np.ndarray, probs: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Dense-CRF post-processing of (K, H, W) class probabilities on a (H, W, 3) uint8 image, with
    DeepLab v2's settings (Chen et al., TPAMI 2018): Gaussian sxy=3, compat=3; bilateral
    sxy=121, srgb=5, compat=4. Returns the refined (K, H, W) probabilities."""
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    k, h, w = probs.shape
    d = dcrf.DenseCRF2D(w, h, k)
    d.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs.astype(np.float32))))
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=121, srgb=5, rgbim=np.array(image, dtype=np.uint8, order="C"), compat=4)
    return np.asarray(d.inference(iterations)).reshape(k, h, w)
