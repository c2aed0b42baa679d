"""Optimisers and learning-rate schedules of the training stages (``torch.optim``)."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import ChainedScheduler, LambdaLR, LinearLR, LRScheduler, MultiStepLR

POLY_POWER = 0.9
WARMUP_FACTOR = 1 / 3  # Detectron's default: the warm-up starts at lr / 3


def make_optimizer(name: str, groups: list[dict], weight_decay: float, momentum: float = 0.9) -> torch.optim.Optimizer:
    """'sgd' or 'adamw' (for from-scratch toy training). The authors' CAM network and IRNet train
    with SGD whose momentum slot received the weight decay (``SGD(params, lr, weight_decay)``
    called positionally: momentum 1e-4, in effect plain SGD); the configs say so explicitly."""
    if name == "sgd":
        return torch.optim.SGD(groups, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer '{name}' (sgd or adamw)")


def lr_schedule(optimizer: torch.optim.Optimizer, total_steps: int, settings: dict) -> LRScheduler:
    """The lr schedule of a training section, stepped once per iteration.

    ``lr_schedule`` poly (the default: the CAM network, IRNet, DeepLab): lr x (1 - step / total)
    ^ 0.9. ``steps`` (Detectron's, for Mask R-CNN): lr x ``lr_gamma`` at each of ``lr_steps``,
    after a linear warm-up from lr / 3 over ``warmup_iters`` iterations.
    """
    if settings.get("lr_schedule", "poly") == "poly":
        return LambdaLR(optimizer, lambda step: (1 - step / total_steps) ** POLY_POWER)
    steps = MultiStepLR(optimizer, settings["lr_steps"], settings["lr_gamma"])
    if not settings["warmup_iters"]:
        return steps
    warmup = LinearLR(optimizer, WARMUP_FACTOR, 1.0, settings["warmup_iters"])
    return ChainedScheduler([warmup, steps], optimizer)
