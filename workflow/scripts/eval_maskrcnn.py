"""Rule eval_maskrcnn: mAP^r and COCO segm AP on the held-out split."""

from irn_core.device import set_threads
from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.maskrcnn import eval_maskrcnn

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    eval_maskrcnn(
        rule_config(snakemake),
        snakemake.input.model,
        snakemake.input.val_coco,
        snakemake.output.json,
        snakemake.output.predictions,
    )
