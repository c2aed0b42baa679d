"""Multi-GPU training on one node: a training stage run by torchrun, one process per GPU.

``run_training`` calls a training stage directly when ``train_processes`` is 1; otherwise it
starts ``torchrun --standalone --nproc_per_node N`` on this module, whose processes join one
process group (NCCL on CUDA, gloo on the CPU) and each run the stage. Inside, ``fit`` wraps the
model in DistributedDataParallel and ``epoch_loader`` gives each process its slice of every batch,
so the effective batch, the number of steps and the lr schedule are those of one process;
BatchNorm statistics are per process (SyncBatchNorm on CUDA). The first process writes the
checkpoints and the model. (The authors' code trains with DataParallel on all visible GPUs.)
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path


def dist_info() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless it runs under torchrun."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def wrap_model(model):
    """The module a training step calls: under torchrun the DistributedDataParallel wrapper, which
    averages the processes' gradients (with SyncBatchNorm on CUDA: batch statistics over the whole
    batch, as in one process); else the model itself."""
    if dist_info()[1] == 1:
        return model
    import torch
    from torch.nn.parallel import DistributedDataParallel

    dev = next(model.parameters()).device
    if dev.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return DistributedDataParallel(
        model, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=True
    )


def mean_over_processes(values: dict[str, float]) -> dict[str, float]:
    """The mean of each value over the training processes (each saw its slice of every batch)."""
    world = dist_info()[1]
    if world == 1:
        return values
    import torch
    import torch.distributed as dist

    names = sorted(values)
    t = torch.tensor([values[k] for k in names], dtype=torch.float64)
    dist.all_reduce(t)
    return dict(zip(names, (t / world).tolist()))


def barrier() -> None:
    """Wait for every training process (a no-op in one process)."""
    if dist_info()[1] > 1:
        import torch.distributed as dist

        dist.barrier()


class RankSlice:
    """Every ``world``-th index of each batch of ``batches``, from ``rank`` on."""

    def __init__(self, batches, rank: int, world: int):
        self.batches, self.rank, self.world = batches, rank, world

    def __iter__(self):
        for batch in self.batches:
            yield batch[self.rank :: self.world]

    def __len__(self) -> int:
        return len(self.batches)


def _stage(target: str):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def run_training(cfg: dict, stage: Callable, *args, log_path: str | None = None):
    """Run the training stage ``stage`` (called as stage(cfg, *args)) in this process, or under
    torchrun with ``cfg["train_processes"]`` processes (their output appended to ``log_path``),
    each of which imports it by its module and name. Returns the stage's result (None under
    torchrun). The caller imports ``stage``, so a rule's code version covers it."""
    n = int(cfg.get("train_processes", 1))
    if n == 1:
        return stage(cfg, *args)
    target = f"{stage.__module__}:{stage.__qualname__}"
    with tempfile.TemporaryDirectory() as tmp:
        payload = Path(tmp) / "job.json"
        args = [str(a) if isinstance(a, (str, Path)) else a if a is None else [str(x) for x in a] for a in args]
        payload.write_text(json.dumps({"target": target, "cfg": cfg, "args": args}))
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={n}",
            "-m",
            "irn_core.distributed",
            str(payload),
        ]
        with open(log_path or os.devnull, "a") as out:
            r = subprocess.run(cmd, stdout=out if log_path else None, stderr=subprocess.STDOUT if log_path else None)
    if r.returncode != 0:
        raise RuntimeError(
            f"{target} under torchrun ({n} processes) failed with exit code {r.returncode}"
            + (f"; see {log_path}" if log_path else "")
        )
    return None


def main(payload_path: str) -> None:
    """A torchrun process: join the group, run the stage, leave."""
    import torch
    import torch.distributed as dist

    job = json.loads(Path(payload_path).read_text())
    cfg = job["cfg"]
    cuda = cfg.get("device", "auto") != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if cuda else "gloo")
    world = dist.get_world_size()
    torch.set_num_threads(max(1, int(cfg.get("threads", 1)) // world))
    from .progress import log, setup_logging

    if dist.get_rank() == 0:  # the first process logs (to the rule's log, through torchrun's output)
        setup_logging()
        log(f"{job['target']}: {world} processes ({'nccl, one GPU each' if cuda else 'gloo, CPU'})")
    try:
        _stage(job["target"])(cfg, *job["args"])
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
