"""Rule random_walk: the walk of every image's CAMs, instance by instance, before any threshold."""

from irn_core.device import set_threads
from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.labels import random_walk

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    random_walk(
        rule_config(snakemake), snakemake.input.cams, snakemake.input.irn, snakemake.output.walk, snakemake.params.shard
    )
