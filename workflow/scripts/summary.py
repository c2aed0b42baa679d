"""Rule summary: gather the evaluation numbers and wall times of a target's stages."""
from irn_core.progress import log_to
from irn_core.stages.summary import write_summary

with log_to(snakemake.log[0]):
    write_summary(dict(snakemake.input.items()), snakemake.params.benchmarks, snakemake.output[0],
                  snakemake.params.run_name, snakemake.params.target)
