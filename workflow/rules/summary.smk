# the named stopping points: `snakemake cams`, `pseudo_labels`, `maskrcnn`, `deeplab`; each ends
# with a summary of the jobs it ran (summary_<target>.json); `snakemake` runs all (summary.json)
rule summary:
    input:
        unpack(summary_inputs),
    output:
        run_file(layout.SUMMARY, name="{name}"),
    log:
        log_file("{name}"),
    wildcard_constraints:
        name="|".join(layout.summary_name(t) for t in layout.TARGETS),
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("summary")
    resources:
        mem_mb=mem_mb("summary"),
        runtime=runtime("summary"),
    params:
        cfg=settings("summary"),
        target=summary_target,
        benchmarks=f"{OUT}/{layout.BENCHMARKS}",
        run_name=RUN,
        code=code("summary"),
    script:
        "../scripts/summary.py"


# one rule per named target of irn_core.layout.TARGETS, run on the submitting machine
for _target in layout.TARGETS:
    if _target != "all":

        rule:
            name:
                _target
            input:
                run_file(layout.SUMMARY, name=layout.summary_name(_target)),
            localrule: True
