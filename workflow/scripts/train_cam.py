"""Rule train_cam: train the CAM classifier (under torchrun when train_processes > 1)."""

from irn_core.device import set_threads
from irn_core.distributed import run_training
from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.cam import train_cam

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    run_training(
        rule_config(snakemake),
        train_cam,
        snakemake.input.train,
        snakemake.output.model,
        snakemake.params.ckpt,
        log_path=snakemake.log[0],
    )
