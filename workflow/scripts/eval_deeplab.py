"""Rule eval_deeplab: mIoU on the held-out split."""
from irn_core.progress import log_to
from irn_core.stages import setup_torch
from irn_core.stages.supervised import eval_deeplab

with log_to(snakemake.log[0]):
    setup_torch(snakemake.threads)
    eval_deeplab(snakemake.config, snakemake.input.model, snakemake.output.json)
