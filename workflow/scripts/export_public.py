"""Rule export_public: CAMs and pseudo labels in the authors' layout (.npy, label .png)."""

from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.export import export_public

with log_to(snakemake.log[0]):
    i = snakemake.input
    export_public(rule_config(snakemake), i.cams, i.sem, i.ins, snakemake.output.folder)
