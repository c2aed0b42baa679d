"""Rule make_cam: multi-scale + flip CAMs of every image to one HDF5 file."""

from irn_core.device import set_threads
from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.cam import make_cam

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    make_cam(rule_config(snakemake), snakemake.input.model, snakemake.output.cams, snakemake.params.shard)
