rule make_labels:
    input:
        cams=CAMS,
        irn=IRN_OUT,
        manifests=manifests("train", "eval"),
    output:
        sem=sharded(SEM),
        ins=sharded(INS),
    params:
        cfg=settings("propagate", *(f"labels.{k}" for k in ("sem_bg_threshold", "ins_bg_threshold",
                                                            "centroid_iterations", "centroid_threshold",
                                                            "min_fraction")), splits=("train", "eval")),
        shard=shard_of,
        code=code("make_labels"),
    log:
        f"{OUT}/logs/make_labels{SHARD_SUFFIX}.log",
    benchmark:
        f"{OUT}/benchmarks/make_labels{SHARD_SUFFIX}.tsv"
    threads: threads_of("make_labels")
    priority: 1  # the pseudo-label chain goes before the supervised models
    resources:
        mem_mb=mem_mb("make_labels"),
        runtime=runtime("make_labels"),
        gpu=uses_gpu("make_labels"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/make_labels.py"


rule pseudo_coco:
    input:
        ins=INS,
        manifests=manifests("train", "eval"),
    output:
        coco=f"{OUT}/labels/ins_pseudo_coco.json",
    params:
        cfg=settings("labels.min_score", splits=("train", "eval")),
        code=code("pseudo_coco"),
    log:
        f"{OUT}/logs/pseudo_coco.log",
    benchmark:
        f"{OUT}/benchmarks/pseudo_coco.tsv"
    threads: threads_of("pseudo_coco")
    priority: 1
    resources:
        mem_mb=mem_mb("pseudo_coco"),
        runtime=runtime("pseudo_coco"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/pseudo_coco.py"


rule baselines:
    input:
        cams=CAMS,
        sem=SEM,
        eval=manifest("eval"),
    output:
        cc=sharded(BASELINE_CC),
        sem_cc=sharded(BASELINE_SEM_CC),
    params:
        cfg=settings("cam.eval_threshold", "labels.min_fraction", splits=("eval",)),
        shard=shard_of,
        code=code("baselines"),
    log:
        f"{OUT}/logs/baselines{SHARD_SUFFIX}.log",
    benchmark:
        f"{OUT}/benchmarks/baselines{SHARD_SUFFIX}.tsv"
    threads: threads_of("baselines")
    priority: 1  # the pseudo-label chain goes before the supervised models
    resources:
        mem_mb=mem_mb("baselines"),
        runtime=runtime("baselines"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/baselines.py"
