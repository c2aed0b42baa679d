"""Rule eval_deeplab: mIoU on the held-out split."""

from irn_core.device import set_threads
from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.deeplab import eval_deeplab

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    eval_deeplab(rule_config(snakemake), snakemake.input.model, snakemake.output.json)
