"""Rule train_deeplab: DeepLabV3 on the semantic pseudo labels (under torchrun when
train_processes > 1)."""

from irn_core.device import set_threads
from irn_core.distributed import run_training
from irn_core.progress import log_to
from irn_core.stages import optional_input, rule_config
from irn_core.stages.deeplab import train_deeplab

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    run_training(
        rule_config(snakemake),
        train_deeplab,
        snakemake.input.sem,
        optional_input(snakemake.input.cam_model),
        snakemake.input.train,
        snakemake.output.model,
        snakemake.params.ckpt,
        snakemake.output.scripted,
        log_path=snakemake.log[0],
    )
