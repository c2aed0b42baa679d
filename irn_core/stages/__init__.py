"""Stage runners: the bodies of the Snakemake rules, one module per theme, named as the rule file
(``workflow/rules/cam.smk`` <-> ``irn_core/stages/cam.py``), one runner per rule, named as the rule.

Each stage module declares in ``SETTINGS`` the config keys its runners read (irn_core.config).
The two frames below hold what every per-image stage and every training stage does around its
algorithm; the workflow scripts only unpack Snakemake's objects and call a runner.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import torch

from ..checkpoints import Checkpointer, checkpoint_tag
from ..config import SPLIT_LISTS, stage_config, without_execution
from ..datasets import stage_dataset, stage_ids, union_ids
from ..device import autocast_dtype, resolve_device, to_device
from ..digest import config_digest, input_digest
from ..io import atomic_h5, provenance, write_group
from ..progress import Progress, log
from ..shards import shard_ids
from ..train import epoch_loader, fit


def rule_config(smk) -> dict:
    """The config a rule's stage runs with: the settings the rule declares (``params.cfg``), the
    execution keys (threads, device, ...) and the check_dataset manifests among its inputs
    (``manifests``, by split: what irn_core.datasets.stage_dataset reads the dataset through)."""
    cfg = stage_config(smk.params.cfg, smk.config)
    found = {Path(f).stem: str(f) for f in smk.input if Path(f).parent.name == "dataset" and f.endswith(".json")}
    cfg["manifests"] = {s: f for s, f in found.items() if s in SPLIT_LISTS}
    return cfg


def optional_input(value) -> str | None:
    """A named input that a rule declares as a list of zero or one file: the file, or None."""
    if isinstance(value, str):
        return value
    files = list(value)
    return str(files[0]) if files else None


def coco_image_numbers(ids: list[str]) -> dict[str, int]:
    """COCO image ids of a list of image ids: 1, 2, ... in list order. The pseudo-label JSON
    numbers the union of the train and eval lists (train first) and the ground-truth JSON of the
    train split its own list, so both give a training image the same number."""
    return {image_id: n for n, image_id in enumerate(ids, start=1)}


class PerImage:
    """The frame of a per-image stage: the images of its splits (one shard of them), the dataset,
    one stage file per output (written under a temporary name and renamed when complete, with the
    provenance of its settings and inputs), progress over the images and a closing log line::

        with PerImage("make_cam", cfg, ("train", "eval"), {"cams": out}, {"checkpoint": model}, shard) as stage:
            for image_id in stage.progress():
                stage.write("cams", image_id, {"keys": ..., "cam_s4": ...})

    ``inputs``: the files it reads, recorded as ``<name>_digest`` (their content digests);
    ``extra``: other provenance attributes.
    """

    def __init__(
        self,
        name: str,
        cfg: dict,
        splits: tuple[str, ...],
        outputs: dict[str, str],
        inputs: dict[str, str] | None = None,
        shard: tuple[int, int] = (0, 1),
        extra: dict | None = None,
    ):
        self.name, self.cfg, self.outputs = name, cfg, outputs
        self.data = stage_dataset(cfg)
        self.ids = shard_ids(union_ids(*(stage_ids(cfg, f"{s}_list") for s in splits)), *shard)
        digests = {f"{k}_digest": input_digest(path) for k, path in (inputs or {}).items()}
        self.attrs = provenance(name, cfg["run_name"], without_execution(cfg), **digests, **(extra or {}))
        self.files: dict = {}
        self._stack = ExitStack()

    def __enter__(self) -> PerImage:
        for key, path in self.outputs.items():
            self.files[key] = self._stack.enter_context(atomic_h5(path, self.attrs))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.__exit__(*exc)
        if exc[0] is None:
            log(f"{self.name}: {len(self.ids)} images to {', '.join(map(str, self.outputs.values()))}")

    def progress(self, items=None) -> Progress:
        """Progress over the stage's images (``items``: what is iterated instead, one per image)."""
        return Progress(self.ids if items is None else items, self.name, total=len(self.ids))

    def write(self, output: str, image_id: str, arrays: dict, **kwargs) -> None:
        """One image's arrays, as a group of output ``output`` (io.write_group)."""
        write_group(self.files[output], image_id, arrays, **kwargs)


class Training:
    """The frame of a training stage: the device, the seed (set before the model is built, so its
    initialisation is the seed's), checkpoints tagged with the settings and the inputs' contents,
    the epoch loop and the model file::

        run = Training("train_cam", cfg, "cam", [train_manifest], ckpt_dir)
        net = run.to_device(build())
        history = run.fit(net, groups, dataset, step)  # step(model, batch, device) -> losses
        run.save(net, model_out, history, classes=...)
    """

    def __init__(self, name: str, cfg: dict, section: str, inputs: list[str], ckpt_dir: str):
        self.name, self.cfg, self.settings, self.inputs = name, cfg, cfg[section], inputs
        self.device = resolve_device(cfg["device"])
        torch.manual_seed(self.settings["seed"])
        self.checkpoints = Checkpointer(ckpt_dir, tag=checkpoint_tag(without_execution(cfg), inputs))
        self.started = 0.0

    def to_device(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model on the stage's device, in the configured memory layout."""
        return to_device(model, self.cfg, self.device)

    def fit(self, model, groups: list[dict], data, step, collate_fn=None) -> list[dict]:
        """Train on ``data`` (a map-style dataset) in the section's batches and schedule;
        ``step(model, batch, device)`` returns the losses (``total`` is minimised)."""
        settings = self.settings
        self.started = time.perf_counter()

        def loader(epoch):
            return epoch_loader(
                data, epoch, settings["batch_size"], settings["seed"], self.cfg["num_workers"], collate_fn
            )

        def step_on_device(module, batch):
            return step(module, batch, self.device)

        return fit(
            model,
            groups,
            loader,
            step_on_device,
            settings,
            self.checkpoints,
            self.name,
            autocast_dtype(self.cfg, self.device),
            self.device.type,
        )

    def save(self, model, model_out: str, history: list[dict], **meta) -> None:
        """The model file; the checkpoints go. Beside the weights it carries what a user of the model
        needs: the class names, the settings it was trained with (and their digest), its provenance,
        the training history and seconds, and ``meta`` (e.g. ``input``: its input normalisation)."""
        settings = without_execution(self.cfg)
        inputs = {f"input_{k}_digest": input_digest(path) for k, path in enumerate(self.inputs)}
        self.checkpoints.finish(
            {
                "model": model.state_dict(),
                "classes": list(self.cfg["dataset"]["classes"]),
                "settings": settings,
                "settings_digest": config_digest(settings),
                "provenance": provenance(self.name, self.cfg["run_name"], settings, **inputs),
                "history": history,
                "train_seconds": time.perf_counter() - self.started,
                **meta,
            },
            model_out,
        )


__all__ = ["PerImage", "Training", "coco_image_numbers", "optional_input", "rule_config"]
