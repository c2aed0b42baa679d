"""Rule summary: gather the evaluation numbers and wall times of a target's jobs."""

from irn_core.progress import log_to
from irn_core.stages.summary import summary

with log_to(snakemake.log[0]):
    summary(
        dict(snakemake.input.items()),
        snakemake.params.benchmarks,
        snakemake.output[0],
        snakemake.params.run_name,
        snakemake.params.target,
    )
