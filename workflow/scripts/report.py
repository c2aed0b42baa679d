"""Rule report: the figures of the Snakemake report (snakemake --report report.html)."""
from irn_core.progress import log_to
from irn_core.stages.report import report_figures

with log_to(snakemake.log[0]):
    report_figures(snakemake.params.run, snakemake.params.classes, snakemake.params.examples,
                   dict(snakemake.output.items()))
