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


def warmup_factor(step: int, warmup_iters: int) -> float:
    """Detectron's linear warm-up: from 1/3 at step 0 to 1 at ``warmup_iters`` (1 without one)."""
    if step >= warmup_iters:
        return 1.0
    alpha = step / warmup_iters
    return WARMUP_FACTOR * (1 - alpha) + alpha


def lr_schedule(optimizer: torch.optim.Optimizer, total_steps: int, settings: dict) -> LRScheduler:
    """The lr schedule of a training section, stepped once per iteration.

    ``lr_schedule`` poly (the default: the CAM network, IRNet, DeepLab): lr x (1 - step / total)
    ^ 0.9. ``steps`` (Detectron's, for Mask R-CNN): lr x ``lr_gamma`` at each of ``lr_steps``.
    Either after a linear warm-up from lr / 3 over ``warmup_iters`` iterations, when set.
    """
    warmup = settings.get("warmup_iters") or 0
    if settings.get("lr_schedule", "poly") == "poly":
        if not warmup:
            return LambdaLR(optimizer, lambda step: (1 - step / total_steps) ** POLY_POWER)
        return LambdaLR(optimizer, lambda step: (1 - step / total_steps) ** POLY_POWER * warmup_factor(step, warmup))
    steps = MultiStepLR(optimizer, settings["lr_steps"], settings["lr_gamma"])
    if not warmup:
        return steps
    return ChainedScheduler([LinearLR(optimizer, WARMUP_FACTOR, 1.0, warmup), steps], optimizer)
