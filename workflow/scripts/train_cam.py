"""Rule train_cam: train the CAM classifier."""
from irn_core.progress import log_to
from irn_core.stages import setup_torch
from irn_core.stages.cam import train_cam

with log_to(snakemake.log[0]):
    setup_torch(snakemake.threads)
    train_cam(snakemake.config, snakemake.output.model, snakemake.params.ckpt)
