"""Rule eval_deeplab: mIoU on the held-out split."""
from irn_core.progress import log_to
from irn_core.stages import rule_config, setup_torch
from irn_core.stages.supervised import eval_deeplab

with log_to(snakemake.log[0]):
    cfg = rule_config(snakemake)
    setup_torch(snakemake.threads)
    eval_deeplab(cfg, snakemake.input.model, snakemake.output.json)
