"""Rule prepare_toy: generate the built-in toy dataset in VOC layout."""

from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.data import prepare_toy

with log_to(snakemake.log[0]):
    prepare_toy(rule_config(snakemake), snakemake.output.stats)
