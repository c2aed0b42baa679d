# the named stopping points: `snakemake cams`, `pseudo_labels`, `maskrcnn`, `deeplab`; each ends
# with a summary of the stages it ran (summary_<target>.json); `snakemake` runs all (summary.json)
rule summary:
    input:
        unpack(summary_inputs),
    output:
        f"{OUT}/{{name}}.json",
    params:
        target=summary_target,
        benchmarks=f"{OUT}/benchmarks",
        run_name=RUN,
        code=code("summary"),
    wildcard_constraints:
        name="summary(_cams|_pseudo_labels|_maskrcnn|_deeplab)?",
    log:
        f"{OUT}/logs/{{name}}.log",
    threads: threads_of("summary")
    resources:
        mem_mb=mem_mb("summary"),
        runtime=runtime("summary"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/summary.py"


rule cams:
    input:
        f"{OUT}/summary_cams.json",


rule pseudo_labels:
    input:
        f"{OUT}/summary_pseudo_labels.json",


rule maskrcnn:
    input:
        f"{OUT}/summary_maskrcnn.json",


rule deeplab:
    input:
        f"{OUT}/summary_deeplab.json",
