"""Rule baselines: CAM + connected components, and semantic propagation + connected components."""

from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.labels import baselines

with log_to(snakemake.log[0]):
    baselines(
        rule_config(snakemake),
        snakemake.input.cams,
        snakemake.input.walk,
        snakemake.input.sem,
        snakemake.output.cc,
        snakemake.output.sem_cc,
        snakemake.params.shard,
    )
