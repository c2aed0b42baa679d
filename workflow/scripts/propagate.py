"""Rule propagate: semantic pseudo labels by the boundary-driven random walk."""
from irn_core.progress import log_to
from irn_core.stages import rule_config, setup_torch
from irn_core.stages.labels import make_sem_pseudo

with log_to(snakemake.log[0]):
    cfg = rule_config(snakemake)
    setup_torch(snakemake.threads)
    make_sem_pseudo(cfg, snakemake.input.cams, snakemake.input.irn, snakemake.output.sem)
