"""Rule index_shards: one index HDF5 (external links) over a per-image stage's shard files."""
from irn_core.progress import log, log_to
from irn_core.shards import write_index

with log_to(snakemake.log[0]):
    done = write_index(snakemake.output.index, list(snakemake.input))
    log(f"index_shards: {done['images']} images in {done['shards']} shards -> {snakemake.output.index}")
