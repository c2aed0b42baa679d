"""Rule eval_cam: mIoU of CAM labels over a sweep of background thresholds."""

from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.cam import eval_cam

with log_to(snakemake.log[0]):
    eval_cam(rule_config(snakemake), snakemake.input.cams, snakemake.output.json)
