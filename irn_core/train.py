"""The training loop every training stage shares, and its data: batches of an epoch."""

from __future__ import annotations

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

from .checkpoints import Checkpointer
from .distributed import RankSlice, barrier, dist_info, mean_over_processes, wrap_model
from .optim import lr_schedule, make_optimizer
from .progress import Progress, log


def epoch_loader(
    data: Dataset, epoch: int, batch_size: int, seed: int, num_workers: int = 0, collate_fn=None
) -> DataLoader:
    """Shuffled batches of one epoch; order and augmentation depend only on (seed, epoch), so a
    resumed run sees the same data as an uninterrupted one. Batches are full (the last partial one
    is dropped), so a batch size above the number of items is an error rather than an empty epoch.
    Under torchrun each process takes every world-th item of each batch: together the processes
    see the single-process batches."""
    if len(data) < batch_size:
        raise ValueError(f"batch_size {batch_size} exceeds the {len(data)} training images: no full batch to train on")
    data.epoch = epoch
    gen = torch.Generator().manual_seed(seed * 1000 + epoch)
    rank, world = dist_info()
    if world == 1:
        return DataLoader(
            data,
            batch_size=batch_size,
            shuffle=True,
            drop_last=True,
            generator=gen,
            num_workers=num_workers,
            collate_fn=collate_fn,
        )
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} is not a multiple of the {world} training processes")
    batches = BatchSampler(RandomSampler(data, generator=gen), batch_size, drop_last=True)
    return DataLoader(
        data,
        batch_sampler=RankSlice(batches, rank, world),
        generator=gen,
        num_workers=num_workers,
        collate_fn=collate_fn,
    )


def fit(
    model,
    groups: list[dict],
    loader_fn,
    step_fn,
    settings: dict,
    ckpt: Checkpointer,
    name: str,
    amp: torch.dtype | None = None,
    device_type: str = "cpu",
) -> list[dict]:
    """The shared epoch loop of every training stage; returns the history of the epochs it ran.

    groups: optimizer parameter groups, each with its ``lr``, scaled at each step by the lr
    schedule of ``settings`` (``optim.lr_schedule``: poly by default); loader_fn(epoch) -> an
    iterable of batches; step_fn(model, batch) -> dict of scalar tensors whose ``total`` is
    minimised (the others are only averaged and logged); ``model`` is the module to call: under
    torchrun the DistributedDataParallel wrapper (``distributed.wrap_model``), so the effective
    batch and the schedule are those of one process. ``settings`` holds ``optimizer``,
    ``weight_decay``, ``momentum``, ``epochs`` and, to train by steps instead (the last epoch
    stopping part way), ``iterations``. Checkpoints every epoch; resumes from the newest one.
    ``amp``: autocast dtype of ``step_fn`` (None = full precision). A non-finite loss stops the
    run with an error; the checkpoints of the finished epochs stay.
    """
    train_model = wrap_model(model)
    opt = make_optimizer(
        settings["optimizer"], [dict(g) for g in groups], settings["weight_decay"], settings["momentum"]
    )
    steps = len(loader_fn(0))  # batches per epoch (full batches only: the same every epoch)
    total = settings.get("iterations") or settings["epochs"] * steps
    epochs = -(-total // steps)
    schedule = lr_schedule(opt, total, settings)
    start = ckpt.resume(model, opt, schedule)
    if start:
        log(f"{name}: resumed from epoch {start}")
    history = []
    for epoch in range(start, epochs):
        model.train()
        sums: dict[str, float] = {}
        prog = Progress(loader_fn(epoch), f"{name} epoch {epoch + 1}/{epochs}", total=min(steps, total - epoch * steps))
        done = 0
        for step, batch in enumerate(prog):
            if epoch * steps + step >= total:
                break
            with torch.autocast(device_type, dtype=amp, enabled=amp is not None):
                losses = step_fn(train_model, batch)
            if not torch.isfinite(losses["total"]):
                raise FloatingPointError(
                    f"{name}: loss {float(losses['total'].detach())} at epoch {epoch + 1}, step {step + 1}; lower "
                    f"the lr (checkpoints of finished epochs are in {ckpt.folder})"
                )
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            opt.step()
            schedule.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach() if torch.is_tensor(v) else v)
            done = step + 1
            prog.postfix = f" loss {sums['total'] / done:.4f}"
        sums = mean_over_processes(sums)
        history.append({"epoch": epoch + 1, **{k: v / max(done, 1) for k, v in sums.items()}})
        log(f"{name}: epoch {epoch + 1} " + " ".join(f"{k} {v:.4f}" for k, v in history[-1].items() if k != "epoch"))
        ckpt.save(epoch + 1, model, opt, schedule)
        barrier()  # the checkpoint is on disk before any process goes on
    return history
