"""Rule make_instances: instance pseudo labels (HDF5) and their COCO JSON."""
from irn_core.progress import log_to
from irn_core.stages import rule_config, setup_torch
from irn_core.stages.labels import make_ins_pseudo

with log_to(snakemake.log[0]):
    cfg = rule_config(snakemake)
    setup_torch(snakemake.threads)
    make_ins_pseudo(cfg, snakemake.input.cams, snakemake.input.irn, snakemake.output.ins,
                    snakemake.output.coco)
