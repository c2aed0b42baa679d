"""Rule train_maskrcnn: Mask R-CNN on pseudo (or ground-truth) instance labels (under torchrun
when train_processes > 1)."""

from irn_core.device import set_threads
from irn_core.distributed import run_training
from irn_core.progress import log_to
from irn_core.stages import optional_input, rule_config
from irn_core.stages.maskrcnn import train_maskrcnn

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    run_training(
        rule_config(snakemake),
        train_maskrcnn,
        snakemake.input.coco,
        optional_input(snakemake.input.cam_model),
        list(snakemake.input.manifests),
        snakemake.output.model,
        snakemake.params.ckpt,
        snakemake.output.scripted,
        log_path=snakemake.log[0],
    )
