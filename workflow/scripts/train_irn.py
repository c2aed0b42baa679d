"""Rule train_irn: train IRNet's boundary and displacement branches."""
from irn_core.progress import log_to
from irn_core.stages import setup_torch
from irn_core.stages.irn import train_irn

with log_to(snakemake.log[0]):
    setup_torch(snakemake.threads)
    train_irn(snakemake.config, snakemake.input.relations, snakemake.input.cam_model, snakemake.output.model,
              snakemake.params.ckpt)
