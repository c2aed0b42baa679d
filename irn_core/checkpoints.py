"""Model files and training checkpoints: written atomically, tagged with what they belong to, and
read back by one loader.

A model file is a dict holding ``model`` (the state dict), ``content_digest`` (of its weights:
equal weights give equal digests) and what the training stage adds (history, classes, ...).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from .digest import ArrayDigest, config_digest, input_digest
from .distributed import dist_info
from .io import atomic_path, remove_stale_temporaries


def load_checkpoint(path: str | Path) -> dict:
    """A model file or training checkpoint, on the CPU. Only tensors and plain values are
    unpickled (``weights_only``): a file from elsewhere cannot run code."""
    return torch.load(path, map_location="cpu", weights_only=True)


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


def save_scripted(model: torch.nn.Module, path: str | Path, meta: dict) -> None:
    """The model as TorchScript, for users without this package: ``torch.jit.load(path)`` after
    ``import torchvision`` (which registers the detection ops), on the CPU, in eval mode. ``meta``
    (classes, input, settings) travels in the archive as ``meta.json`` (``_extra_files``)."""
    import copy
    import json
    import warnings

    scripted_model = copy.deepcopy(model).cpu().to(memory_format=torch.contiguous_format).eval()
    with warnings.catch_warnings():  # TorchScript is deprecated in favour of torch.export, which cannot
        warnings.simplefilter("ignore")  # trace Mask R-CNN's data-dependent shapes yet
        scripted = torch.jit.script(scripted_model)
        with atomic_path(path) as tmp:
            torch.jit.save(scripted, str(tmp), _extra_files={"meta.json": json.dumps(meta)})


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

    def save(self, epoch: int, model, optimizer, scheduler) -> Path:
        path = self.folder / f"epoch{epoch:04d}.pt"
        if dist_info()[0] != 0:  # under torchrun the first process writes
            return path
        atomic_save(
            {
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state(),
                "tag": self.tag,
            },
            path,
        )
        for old in sorted(self.folder.glob("epoch*.pt"))[: -self.keep]:
            old.unlink()
        return path

    def resume(self, model, optimizer, scheduler) -> int:
        """Load the newest checkpoint into model, optimizer and lr schedule; returns the epochs done."""
        found = sorted(self.folder.glob("epoch*.pt")) if self.folder.is_dir() else []
        for tmp in self.folder.glob(".epoch*.pt.tmp*"):  # a save that was killed
            remove_stale_temporaries(self.folder / tmp.name[1:].rsplit(".tmp", 1)[0])
        if not found:
            return 0
        state = load_checkpoint(found[-1])
        if state.get("tag", "") != self.tag or "scheduler" not in state:
            from .progress import log

            log(f"checkpoint {found[-1]} was written with other settings or inputs; starting afresh")
            if dist_info()[0] == 0:
                for old in found:
                    old.unlink(missing_ok=True)
            return 0
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        return state["epoch"]
