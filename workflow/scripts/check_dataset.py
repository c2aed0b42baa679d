"""Rule check_dataset: read every file of a split once; its manifest, or every problem at once."""

from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.data import check_dataset

with log_to(snakemake.log[0]):
    check_dataset(
        rule_config(snakemake),
        snakemake.params.split_key,
        snakemake.output.manifest,
        snakemake.threads,
        snakemake.output.largest,
    )
