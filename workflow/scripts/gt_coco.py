"""Rule gt_coco: ground-truth instances of a split as COCO JSON."""
from irn_core.progress import log_to
from irn_core.stages.supervised import write_gt_coco

with log_to(snakemake.log[0]):
    write_gt_coco(snakemake.config, snakemake.params.split_key, snakemake.output.coco,
                  snakemake.input.get("like"))
