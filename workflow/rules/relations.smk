rule mine_relations:
    input:
        cams=CAMS,
        train=manifest("train"),
    output:
        relations=sharded(RELATIONS),
    params:
        cfg=settings("relations", splits=("train",)),
        shard=shard_of,
        code=code("mine_relations"),
    log:
        f"{OUT}/logs/mine_relations{SHARD_SUFFIX}.log",
    benchmark:
        f"{OUT}/benchmarks/mine_relations{SHARD_SUFFIX}.tsv"
    threads: threads_of("mine_relations")
    priority: 1  # the pseudo-label chain goes before the supervised models
    resources:
        mem_mb=mem_mb("mine_relations"),
        runtime=runtime("mine_relations"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/mine_relations.py"
