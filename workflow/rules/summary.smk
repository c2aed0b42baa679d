rule summary:
    input:
        unpack(summary_inputs),
    output:
        f"{OUT}/summary.json",
    params:
        benchmarks=f"{OUT}/benchmarks",
    log:
        f"{OUT}/logs/summary.log",
    threads: 1
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/summary.py"
