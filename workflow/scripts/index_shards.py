"""Rule index_shards: one index HDF5 (external links) over a per-image stage's shard files."""

from irn_core.progress import log_to
from irn_core.stages.shards import index_shards

with log_to(snakemake.log[0]):
    index_shards(snakemake.output.index, list(snakemake.input))
