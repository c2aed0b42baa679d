"""Rule diagnostics: pseudo-label quality with one synthesis input replaced by ground truth."""

from irn_core.device import set_threads
from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.evaluate import diagnostics

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    diagnostics(rule_config(snakemake), snakemake.input.cams, snakemake.input.irn_model, snakemake.output.json)
