rule mine_relations:
    input:
        cams=CAMS,
        train=manifest("train"),
    output:
        relations=f"{OUT}/relations/relations.h5",
    params:
        cfg=settings("relations", splits=("train",)),
        code=code("mine_relations"),
    log:
        f"{OUT}/logs/mine_relations.log",
    benchmark:
        f"{OUT}/benchmarks/mine_relations.tsv"
    threads: THREADS
    priority: 1  # the pseudo-label chain goes before the supervised models
    resources:
        mem_mb=4000,
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/mine_relations.py"
