rule random_walk:
    input:
        cams=stage_file("cams"),
        irn=stage_file("irn"),
        irn_shards=temporary_shards("irn"),
        manifests=manifests("train", "eval"),
    output:
        walk=sharded("walk"),
    log:
        log_file(f"random_walk{SHARD_SUFFIX}"),
    benchmark:
        benchmark_file(f"random_walk{SHARD_SUFFIX}")
    priority: 1  # the pseudo-label chain goes before the supervised models
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("random_walk")
    resources:
        mem_mb=mem_mb("random_walk"),
        runtime=runtime("random_walk"),
        gpu=uses_gpu("random_walk"),
    params:
        cfg=settings("random_walk"),
        shard=shard_of,
        code=code("random_walk"),
    script:
        "../scripts/random_walk.py"


rule make_labels:
    input:
        walk=stage_file("walk"),
        manifests=manifests("train", "eval"),
    output:
        sem=sharded("sem"),
        ins=sharded("ins"),
    log:
        log_file(f"make_labels{SHARD_SUFFIX}"),
    benchmark:
        benchmark_file(f"make_labels{SHARD_SUFFIX}")
    priority: 1
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("make_labels")
    resources:
        mem_mb=mem_mb("make_labels"),
        runtime=runtime("make_labels"),
        gpu=uses_gpu("make_labels"),
    params:
        cfg=settings("make_labels"),
        shard=shard_of,
        code=code("make_labels"),
    script:
        "../scripts/make_labels.py"


rule pseudo_coco:
    input:
        ins=stage_file("ins"),
        manifests=manifests("train", "eval"),
    output:
        coco=run_file(layout.PSEUDO_COCO),
    log:
        log_file("pseudo_coco"),
    benchmark:
        benchmark_file("pseudo_coco")
    priority: 1
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("pseudo_coco")
    resources:
        mem_mb=mem_mb("pseudo_coco"),
        runtime=runtime("pseudo_coco"),
    params:
        cfg=settings("pseudo_coco"),
        code=code("pseudo_coco"),
    script:
        "../scripts/pseudo_coco.py"


rule baselines:
    input:
        cams=stage_file("cams"),
        walk=stage_file("walk"),  # the class walks score the components
        sem=stage_file("sem"),  # make_labels' semantic labels, cut into components
        eval=manifest("eval"),
    output:
        cc=sharded("baseline_cc"),
        sem_cc=sharded("baseline_sem_cc"),
    log:
        log_file(f"baselines{SHARD_SUFFIX}"),
    benchmark:
        benchmark_file(f"baselines{SHARD_SUFFIX}")
    priority: 1
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("baselines")
    resources:
        mem_mb=mem_mb("baselines"),
        runtime=runtime("baselines"),
    params:
        cfg=settings("baselines"),
        shard=shard_of,
        code=code("baselines"),
    script:
        "../scripts/baselines.py"
