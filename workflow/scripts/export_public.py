"""Rule export_public: CAMs and pseudo labels in the authors' layout (.npy, label .png)."""
from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.export import export_public

with log_to(snakemake.log[0]):
    cfg = rule_config(snakemake)
    export_public(cfg, snakemake.input.cams, snakemake.input.sem, snakemake.input.ins, snakemake.output.folder)
