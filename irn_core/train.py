"""Training helpers shared by every stage that trains: poly lr, checkpoints, the epoch loop."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from .digest import ArrayDigest, config_digest, input_digest
from .io import atomic_path, remove_stale_temporaries


def dist_info() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless it runs under torchrun (see
    irn_core.distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def poly_lr(base_lr: float, step: int, max_step: int, power: float = 0.9) -> float:
    """lr * (1 - step / max_step) ** power."""
    return base_lr * (1 - step / max_step) ** power


def poly_factor(step: int, max_step: int) -> float:
    """The lr multiplier of poly decay (power 0.9), the schedule of the CAM network and IRNet."""
    return poly_lr(1.0, step, max_step)


def step_factor(steps: list[int], gamma: float = 0.1, warmup_iters: int = 0, warmup_factor: float = 1 / 3):
    """Detectron's schedule as a multiplier of the base lr: ``gamma`` once per milestone passed,
    after a linear warm-up from ``warmup_factor`` over ``warmup_iters`` iterations."""
    def factor(step: int, max_step: int) -> float:
        f = gamma ** sum(step >= s for s in steps)
        if step < warmup_iters:
            alpha = step / warmup_iters
            f *= warmup_factor * (1 - alpha) + alpha
        return f
    return factor


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Each group's lr: its ``initial_lr`` times ``factor``."""
    for g in optimizer.param_groups:
        g["lr"] = g["initial_lr"] * factor


def make_optimizer(name: str, groups: list[dict], weight_decay: float, momentum: float = 0.9) -> torch.optim.Optimizer:
    """'sgd' or 'adamw' (for from-scratch toy training). The authors' CAM network and IRNet train
    with SGD whose momentum slot received the weight decay (``SGD(params, lr, weight_decay)``
    called positionally: momentum 1e-4, in effect plain SGD); the configs say so explicitly."""
    if name == "sgd":
        return torch.optim.SGD(groups, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer '{name}' (sgd or adamw)")


def state_digest(state: dict) -> str:
    """Digest of a state dict's tensors (names, dtypes, shapes, values)."""
    d = ArrayDigest()
    for k in sorted(state):
        v = state[k]
        if torch.is_tensor(v):
            v = v.detach().cpu()
            v = (v.float() if v.dtype == torch.bfloat16 else v).numpy()
        d.update(k, np.asarray(v))
    return d.hexdigest()


def atomic_save(obj, path: str | Path) -> None:
    """torch.save to a temporary name in the same folder, then rename (see io.atomic_path). A
    dict holding ``model`` gets the ``content_digest`` of its weights."""
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = {**obj, "content_digest": state_digest(obj["model"])}
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def checkpoint_tag(settings: dict, inputs: list[str | Path]) -> str:
    """What a training run's checkpoints belong to: its settings and its inputs' contents (the
    ImageNet weights file included when the settings start from one)."""
    pre = settings.get("cam", {}).get("pretrained")  # 'imagenet': torchvision's weights, named in the settings
    inputs = [*inputs, Path(pre).expanduser()] if pre and pre != "imagenet" else list(inputs)
    return config_digest({"settings": settings, "inputs": [input_digest(p) for p in inputs]})


class Checkpointer:
    """Per-epoch checkpoints in one folder; ``resume`` restores the newest one.

    ``tag`` (``checkpoint_tag``: digest of the settings and the input files) is stored with each
    checkpoint; checkpoints with another tag belong to other settings or inputs and are removed,
    never resumed from. ``finish`` writes the final model and removes the checkpoints, so a
    later (forced) run starts from scratch; only an interrupted run resumes.
    """

    def __init__(self, folder: str | Path, tag: str = "", keep: int = 2):
        self.folder = Path(folder)
        self.tag = tag
        self.keep = keep

    def finish(self, obj: dict, model_out: str | Path) -> None:
        """Save the final model atomically, then remove the checkpoint folder (the first
        process only, under torchrun)."""
        if dist_info()[0] == 0:
            atomic_save(obj, model_out)
            shutil.rmtree(self.folder, ignore_errors=True)

    def save(self, epoch: int, model, optimizer, extra: dict | None = None) -> Path:
        path = self.folder / f"epoch{epoch:04d}.pt"
        if dist_info()[0] != 0:  # under torchrun the first process writes
            return path
        atomic_save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "rng": torch.get_rng_state(), "tag": self.tag, "extra": extra or {}}, path)
        for old in sorted(self.folder.glob("epoch*.pt"))[: -self.keep]:
            old.unlink()
        return path

    def resume(self, model, optimizer) -> tuple[int, dict]:
        """Load the newest checkpoint into model and optimizer; returns (epochs done, extra)."""
        found = sorted(self.folder.glob("epoch*.pt")) if self.folder.is_dir() else []
        for tmp in self.folder.glob(".epoch*.pt.tmp*"):  # a save that was killed
            remove_stale_temporaries(self.folder / tmp.name[1:].rsplit(".tmp", 1)[0])
        if not found:
            return 0, {}
        state = torch.load(found[-1], map_location="cpu", weights_only=False)
        if state.get("tag", "") != self.tag:
            from .progress import log

            log(f"checkpoint {found[-1]} was written with other settings or inputs; starting afresh")
            if dist_info()[0] == 0:
                for old in found:
                    old.unlink(missing_ok=True)
            return 0, {}
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        return state["epoch"], state["extra"]


def fit(model, groups: list[dict], loader_fn, step_fn, c: dict, ckpt: Checkpointer, name: str,
        amp: torch.dtype | None = None, device_type: str = "cpu", iterations: int | None = None,
        lr_factor=poly_factor) -> list[dict]:
    """The shared epoch loop of every training stage.

    groups: optimizer parameter groups, each with its ``lr`` (scaled at each step by
    ``lr_factor(step, total_steps)``: poly decay by default);
    loader_fn(epoch) -> an iterable of batches; step_fn(model, batch) -> dict of scalar tensors
    whose ``total`` is minimised (the others are only averaged and logged); ``model`` is the
    module to call: under torchrun the DistributedDataParallel wrapper, which averages the
    gradients of the processes (each takes its slice of every batch: ``data.epoch_loader``), so
    the effective batch and the schedule are those of one process. ``c`` holds ``optimizer``,
    ``weight_decay``, ``momentum`` and ``epochs``. Checkpoints every epoch; resumes from the newest one.
    ``amp``: autocast dtype of ``step_fn`` (None = full precision). A non-finite loss stops the
    run with an error; the checkpoints of the finished epochs stay. ``iterations``: train for
    that many steps instead of ``epochs`` epochs (the last epoch stops part way).
    """
    from .progress import Progress, log

    rank, world = dist_info()
    train_model = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        dev = next(model.parameters()).device
        if dev.type == "cuda":  # batch statistics over the whole batch, as in one process
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        train_model = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None,
                                              find_unused_parameters=True)
    opt = make_optimizer(c["optimizer"], [dict(g, initial_lr=g["lr"]) for g in groups], c["weight_decay"],
                         c["momentum"])
    start, _ = ckpt.resume(model, opt)
    if start:
        log(f"{name}: resumed from epoch {start}")
    history = []
    steps = len(loader_fn(start))  # batches per epoch (full batches only: the same every epoch)
    total = iterations or c["epochs"] * steps
    epochs = -(-total // steps)
    for epoch in range(start, epochs):
        loader = loader_fn(epoch)
        model.train()
        sums: dict[str, float] = {}
        prog = Progress(loader, f"{name} epoch {epoch + 1}/{epochs}", total=min(steps, total - epoch * steps))
        done = 0
        for step, batch in enumerate(prog):
            if epoch * steps + step >= total:
                break
            set_lr(opt, lr_factor(epoch * steps + step, total))
            with torch.autocast(device_type, dtype=amp, enabled=amp is not None):
                losses = step_fn(train_model, batch)
            if not torch.isfinite(losses["total"]):
                raise FloatingPointError(
                    f"{name}: loss {float(losses['total'].detach())} at epoch {epoch + 1}, step {step + 1}; lower "
                    f"the lr (checkpoints of finished epochs are in {ckpt.folder})")
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            opt.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach() if torch.is_tensor(v) else v)
            done = step + 1
            prog.postfix = f" loss {sums['total'] / done:.4f}"
        if world > 1:  # the mean over the processes (each saw its slice of every batch)
            import torch.distributed as dist

            names = sorted(sums)
            t = torch.tensor([sums[k] for k in names], dtype=torch.float64)
            dist.all_reduce(t)
            sums = dict(zip(names, (t / world).tolist()))
        history.append({"epoch": epoch + 1, **{k: v / max(done, 1) for k, v in sums.items()}})
        log(f"{name}: epoch {epoch + 1} " + " ".join(f"{k} {v:.4f}" for k, v in history[-1].items() if k != "epoch"))
        ckpt.save(epoch + 1, model, opt)
        if world > 1:
            import torch.distributed as dist

            dist.barrier()  # the checkpoint is on disk before any process goes on
    return history
