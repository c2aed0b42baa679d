"""Rule gt_coco: ground-truth instances of a split as COCO JSON."""

from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.maskrcnn import gt_coco

with log_to(snakemake.log[0]):
    gt_coco(rule_config(snakemake), snakemake.params.split_key, snakemake.output.coco)
