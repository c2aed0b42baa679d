"""Rule eval_pseudo: semantic mIoU and instance mAP^r of the pseudo labels and baselines."""

from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.evaluate import eval_pseudo

with log_to(snakemake.log[0]):
    i = snakemake.input
    eval_pseudo(rule_config(snakemake), i.sem, i.ins, i.cc, i.sem_cc, i.walk, snakemake.output.json)
