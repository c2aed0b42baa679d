"""Rule infer_irn: boundary maps and displacement fields to HDF5."""

from irn_core.device import set_threads
from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.irnet import infer_irn

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    infer_irn(rule_config(snakemake), snakemake.input.model, snakemake.output.irn, snakemake.params.shard)
