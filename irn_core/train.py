"""Training helpers shared by every stage that trains: device choice, poly lr, checkpoints."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import torch

from .digest import ArrayDigest, config_digest, input_digest
from .io import atomic_path, remove_stale_temporaries


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cpu' / 'cuda' / 'cuda:N' as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{name}' asked for, but CUDA is not available on this machine")
    return torch.device(name)


def place(model: torch.nn.Module, cfg: dict, device: torch.device) -> torch.nn.Module:
    """Move a model to ``device``; with ``channels_last`` in the config its 4-d weights are stored
    NHWC, so convolutions run in that layout (5-40% faster on CPU, the layout of GPU tensor cores) while
    inputs and outputs keep their shapes."""
    fmt = torch.channels_last if cfg.get("channels_last", False) else torch.contiguous_format
    return model.to(device=device, memory_format=fmt)


def autocast_dtype(cfg: dict, device: torch.device) -> torch.dtype | None:
    """The dtype of mixed-precision training forward passes (``mixed_precision`` in the config).

    auto: bfloat16 on CUDA (same exponent range as float32: no loss scaling), full precision on
    the CPU, where bfloat16 is emulated on most processors and slower; bf16: always; off: never.
    Losses are computed in float32 either way.
    """
    mode = cfg["mixed_precision"]
    if mode == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return torch.bfloat16 if mode == "bf16" else None  # "off", or False (YAML's reading of off)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def poly_lr(base_lr: float, step: int, max_step: int, power: float = 0.9) -> float:
    """lr * (1 - step / max_step) ** power."""
    return base_lr * (1 - step / max_step) ** power


def set_poly_lr(optimizer: torch.optim.Optimizer, step: int, max_step: int, power: float = 0.9) -> None:
    """Apply poly decay to each group's ``initial_lr``."""
    for g in optimizer.param_groups:
        g["lr"] = poly_lr(g["initial_lr"], step, max_step, power)


def make_optimizer(name: str, groups: list[dict], weight_decay: float) -> torch.optim.Optimizer:
    """'sgd' (momentum 0.9, the paper's recipe) or 'adamw' (for from-scratch toy training)."""
    if name == "sgd":
        return torch.optim.SGD(groups, momentum=0.9, weight_decay=weight_decay)
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
    """What a training run's checkpoints belong to: its settings and its inputs' contents."""
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
        """Save the final model atomically, then remove the checkpoint folder."""
        atomic_save(obj, model_out)
        shutil.rmtree(self.folder, ignore_errors=True)

    def save(self, epoch: int, model, optimizer, extra: dict | None = None) -> Path:
        path = self.folder / f"epoch{epoch:04d}.pt"
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
            print(f"checkpoint {found[-1]} was written with other settings or inputs; starting afresh", flush=True)
            for old in found:
                old.unlink()
            return 0, {}
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        return state["epoch"], state["extra"]


def fit(model, groups: list[dict], loader_fn, step_fn, c: dict, ckpt: Checkpointer, name: str,
        amp: torch.dtype | None = None, device_type: str = "cpu") -> list[dict]:
    """The shared epoch loop of every training stage.

    groups: optimizer parameter groups, each with its ``lr`` (poly-decayed from it);
    loader_fn(epoch) -> an iterable of batches; step_fn(batch) -> dict of scalar tensors whose
    ``total`` is minimised (the others are only averaged and logged). ``c`` holds ``optimizer``,
    ``weight_decay`` and ``epochs``. Checkpoints every epoch; resumes from the newest one.
    ``amp``: autocast dtype of ``step_fn`` (None = full precision). A non-finite loss stops the
    run with an error; the checkpoints of the finished epochs stay.
    """
    from .progress import Progress, log

    opt = make_optimizer(c["optimizer"], [dict(g, initial_lr=g["lr"]) for g in groups], c["weight_decay"])
    start, _ = ckpt.resume(model, opt)
    if start:
        log(f"{name}: resumed from epoch {start}")
    history = []
    for epoch in range(start, c["epochs"]):
        loader = loader_fn(epoch)
        steps = len(loader)
        model.train()
        sums: dict[str, float] = {}
        prog = Progress(loader, f"{name} epoch {epoch + 1}/{c['epochs']}")
        for step, batch in enumerate(prog):
            set_poly_lr(opt, epoch * steps + step, c["epochs"] * steps)
            with torch.autocast(device_type, dtype=amp, enabled=amp is not None):
                losses = step_fn(batch)
            if not torch.isfinite(losses["total"]):
                raise FloatingPointError(
                    f"{name}: loss {float(losses['total'].detach())} at epoch {epoch + 1}, step {step + 1}; lower "
                    f"the lr (checkpoints of finished epochs are in {ckpt.folder})")
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            opt.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach() if torch.is_tensor(v) else v)
            prog.postfix = f" loss {sums['total'] / (step + 1):.4f}"
        history.append({"epoch": epoch + 1, **{k: v / max(steps, 1) for k, v in sums.items()}})
        log(f"{name}: epoch {epoch + 1} " + " ".join(f"{k} {v:.4f}" for k, v in history[-1].items() if k != "epoch"))
        ckpt.save(epoch + 1, model, opt)
    return history
