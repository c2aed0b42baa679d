"""Rule make_instances: instance pseudo labels (HDF5) and their COCO JSON."""
from irn_core.progress import log_to
from irn_core.stages import setup_torch
from irn_core.stages.labels import make_ins_pseudo

with log_to(snakemake.log[0]):
    setup_torch(snakemake.threads)
    make_ins_pseudo(snakemake.config, snakemake.input.cams, snakemake.input.irn, snakemake.output.ins,
                    snakemake.output.coco)
