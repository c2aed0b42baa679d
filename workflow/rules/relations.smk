rule mine_relations:
    input:
        cams=stage_file("cams"),
        train=manifest("train"),
    output:
        relations=sharded("relations"),
    log:
        log_file(f"mine_relations{SHARD_SUFFIX}"),
    benchmark:
        benchmark_file(f"mine_relations{SHARD_SUFFIX}")
    priority: 1  # the pseudo-label chain goes before the supervised models
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("mine_relations")
    resources:
        mem_mb=mem_mb("mine_relations"),
        runtime=runtime("mine_relations"),
    params:
        cfg=settings("mine_relations"),
        shard=shard_of,
        code=code("mine_relations"),
    script:
        "../scripts/mine_relations.py"
