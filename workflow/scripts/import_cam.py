"""Rule import_cam: CAMs computed elsewhere (public .npy layout or our HDF5), checked, to the cams file."""

from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.cam import import_cam

with log_to(snakemake.log[0]):
    import_cam(rule_config(snakemake), snakemake.input.manifests, snakemake.output.cams)
