"""Image transforms and torch datasets for the training and inference stages."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .datasets import IGNORE, pil_resize
from .datasets import Dataset as ImageDataset

MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
STD = np.array([0.229, 0.224, 0.225], np.float32) * 255


def normalise(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, H, W) float32 with ImageNet mean/std."""
    return ((img.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1)


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """round(side * scale) per side (round half to even, as numpy's round in the public code)."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def scaled_views(img: np.ndarray, scales) -> list[torch.Tensor]:
    """The normalised (3, h, w) image at each scale, resized as uint8 (PIL bicubic) first."""
    return [torch.from_numpy(normalise(pil_resize(img, scaled_size(img.shape[:2], s)))) for s in scales]


def random_crop(arrays: list[torch.Tensor], pads: list[float], crop: int, rng: np.random.Generator):
    """Crop (or pad) the last two dims of every array at the same random place to crop x crop."""
    h, w = arrays[0].shape[-2:]
    top = rng.integers(0, max(h - crop, 0) + 1)
    left = rng.integers(0, max(w - crop, 0) + 1)
    off_y = rng.integers(0, max(crop - h, 0) + 1)
    off_x = rng.integers(0, max(crop - w, 0) + 1)
    out = []
    for a, pad in zip(arrays, pads):
        canvas = torch.full(a.shape[:-2] + (crop, crop), pad, dtype=a.dtype)
        piece = a[..., top : top + crop, left : left + crop]
        canvas[..., off_y : off_y + piece.shape[-2], off_x : off_x + piece.shape[-1]] = piece
        out.append(canvas)
    return out


class ClassificationCrops(Dataset):
    """Images with multi-hot labels for CAM training: random long-side resize, flip, crop."""

    def __init__(self, data: ImageDataset, ids: list[str], resize_long: tuple[int, int], crop: int, seed: int = 0):
        self.data, self.ids, self.resize_long, self.crop, self.seed = data, ids, resize_long, crop, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        img = self.data.load_image(self.ids[i])
        h, w = img.shape[:2]
        target = rng.integers(self.resize_long[0], self.resize_long[1] + 1)
        img = torch.from_numpy(normalise(pil_resize(img, scaled_size((h, w), target / max(h, w)))))
        if rng.random() < 0.5:
            img = img.flip(-1)
        (img,) = random_crop([img], [0.0], self.crop, rng)
        return img, torch.from_numpy(self.data.labels(self.ids[i]))


class LabelMapCrops(Dataset):
    """Images with a label map each (relation labels for IRNet, pseudo labels for DeepLab): random
    rescale, flip, crop. For IRNet (``stride=4``) the label map is then reduced to stride 4
    (nearest); for segmentation training ``stride=1``."""

    def __init__(
        self,
        data: ImageDataset,
        ids: list[str],
        labels,  # image id -> label map: a dict, or io.StageArrays (read per crop)
        scale_range: tuple[float, float],
        crop: int,
        seed: int = 0,
        stride: int = 4,
    ):
        if crop % stride:
            raise ValueError(f"crop size {crop} must be a multiple of {stride}")
        self.data, self.ids, self.labels = data, ids, labels
        self.scale_range, self.crop, self.seed, self.stride = scale_range, crop, seed, stride
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        img = self.data.load_image(self.ids[i])
        size = scaled_size(img.shape[:2], rng.uniform(*self.scale_range))
        img = torch.from_numpy(normalise(pil_resize(img, size)))
        lab = torch.from_numpy(
            pil_resize(self.labels[self.ids[i]].astype(np.uint8), size, nearest=True).astype(np.int64)
        )
        if rng.random() < 0.5:
            img, lab = img.flip(-1), lab.flip(-1)
        img, lab = random_crop([img, lab], [0.0, IGNORE], self.crop, rng)
        if self.stride > 1:  # nearest sample at the centre of each cell
            lab = lab[self.stride // 2 :: self.stride, self.stride // 2 :: self.stride]
        return img, lab


class ImageSet(Dataset):
    """Plain images for inference: (id, normalised (3, H, W) tensor); with ``scales``, (id, list of
    the normalised image at each scale, (H, W))."""

    def __init__(self, data: ImageDataset, ids: list[str], scales=None):
        self.data, self.ids, self.scales = data, ids, scales

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        img = self.data.load_image(self.ids[i])
        if self.scales is not None:
            return self.ids[i], scaled_views(img, self.scales), img.shape[:2]
        return self.ids[i], torch.from_numpy(normalise(img))
