"""Rule report: the figures of the Snakemake report (snakemake --report report.html)."""

from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.report import report

with log_to(snakemake.log[0]):
    report(
        rule_config(snakemake),
        dict(snakemake.input.items()),
        snakemake.params.benchmarks,
        dict(snakemake.output.items()),
    )
