"""Rule pseudo_coco: the instance pseudo labels as a COCO JSON (Mask R-CNN's training set)."""

from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.labels import pseudo_coco

with log_to(snakemake.log[0]):
    pseudo_coco(rule_config(snakemake), snakemake.input.ins, snakemake.output.coco)
