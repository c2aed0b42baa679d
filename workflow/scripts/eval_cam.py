"""Rule eval_cam: mIoU of CAM labels over a sweep of background thresholds."""
from irn_core.progress import log, log_to
from irn_core.stages import rule_config
from irn_core.stages.cam import eval_cam

with log_to(snakemake.log[0]):
    cfg = rule_config(snakemake)
    r = eval_cam(cfg, snakemake.input.cams, snakemake.output.json)
    log(f"eval_cam: mIoU {r['miou']:.4f} at {r['threshold']}, best {r['best_miou']:.4f} at {r['best_threshold']}")
