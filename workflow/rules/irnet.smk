rule train_irn:
    input:
        relations=stage_file("relations"),
        cam_model=cam_model("irn"),
        # the public mean displacement is taken over the eval list's images
        manifests=manifests("train", *(("eval",) if config["irn"]["mean_shift"] == "crops" else ())),
        weights=weights("irn"),
    output:
        model=model("irn"),
    log:
        log_file("train_irn"),
    benchmark:
        benchmark_file("train_irn")
    priority: 1  # the pseudo-label chain goes before the supervised models
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("train_irn")
    resources:
        mem_mb=mem_mb("train_irn"),
        runtime=runtime("train_irn"),
        gpu=uses_gpu("train_irn"),
    params:
        cfg=settings("train_irn"),
        code=code("train_irn"),
        ckpt=f"{OUT}/{layout.checkpoints('irn')}",
    script:
        "../scripts/train_irn.py"


rule infer_irn:
    input:
        model=rules.train_irn.output.model,
        manifests=manifests("train", "eval"),
    output:
        irn=temp(sharded("irn")),  # layout.TEMPORARY: kept with snakemake --notemp
    log:
        log_file(f"infer_irn{SHARD_SUFFIX}"),
    benchmark:
        benchmark_file(f"infer_irn{SHARD_SUFFIX}")
    priority: 1
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("infer_irn")
    resources:
        mem_mb=mem_mb("infer_irn"),
        runtime=runtime("infer_irn"),
        gpu=uses_gpu("infer_irn"),
    params:
        cfg=settings("infer_irn"),
        shard=shard_of,
        code=code("infer_irn"),
    script:
        "../scripts/infer_irn.py"
