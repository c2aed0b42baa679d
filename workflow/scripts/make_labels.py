"""Rule make_labels: semantic and instance pseudo labels, thresholded from the walk file."""

from irn_core.device import set_threads
from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.labels import make_labels

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    make_labels(
        rule_config(snakemake), snakemake.input.walk, snakemake.output.sem, snakemake.output.ins, snakemake.params.shard
    )
