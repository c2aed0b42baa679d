# IRNet: instance segmentation from image-level labels (Ahn, Cho, Kwak, CVPR 2019).
# Run:  snakemake --cores 2                                   (default toy run, config/config.yaml)
#       snakemake pseudo_labels --cores 8 --configfile config/voc2012.yaml
# A --configfile replaces the default config whole: what it leaves out takes the paper's value
# (the schema's defaults), never the toy run's.
from snakemake.utils import min_version

min_version("8.0")


if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


# bookkeeping that would wait longer for a cluster slot than it runs: on the submitting machine
# (and the named targets, workflow/rules/summary.smk)
localrules:
    all,
    summary,


include: "workflow/rules/data.smk"
include: "workflow/rules/cam.smk"
include: "workflow/rules/relations.smk"
include: "workflow/rules/irnet.smk"
include: "workflow/rules/labels.smk"
include: "workflow/rules/shards.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/maskrcnn.smk"
include: "workflow/rules/deeplab.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/predict.smk"


rule all:
    default_target: True
    input:
        run_file(layout.SUMMARY, name="summary"),
        rules.report.output,
