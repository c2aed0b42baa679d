"""Rule predict: the run's trained models on the images of predict.images."""

from irn_core.device import set_threads
from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.predict import predict

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    models = {k: v for k, v in snakemake.input.items() if k in ("maskrcnn", "deeplab")}
    predict(rule_config(snakemake), models, snakemake.output.folder)
