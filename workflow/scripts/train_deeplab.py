"""Rule train_deeplab: DeepLabV3 on the semantic pseudo labels."""
from irn_core.progress import log_to
from irn_core.stages import optional_input, rule_config, setup_torch
from irn_core.stages.supervised import train_deeplab

with log_to(snakemake.log[0]):
    cfg = rule_config(snakemake)
    setup_torch(snakemake.threads)
    train_deeplab(cfg, snakemake.input.sem, optional_input(snakemake.input.cam_model), snakemake.input.train,
                  snakemake.output.model,
                  snakemake.params.ckpt)
