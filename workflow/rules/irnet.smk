rule train_irn:
    input:
        relations=RELATIONS,
        cam_model=cam_model("irn"),
        # the public mean displacement is taken over the eval list's images
        manifests=manifests("train", *(("eval",) if config["irn"]["mean_shift"] == "crops" else ())),
        weights=weights("irn"),
    output:
        model=f"{OUT}/irn/model.pt",
    params:
        cfg=settings(*IRN_TRAIN, "cam.backbone", *init_keys("irn"), *TRAINING,
                     splits=("train", "eval") if config["irn"]["mean_shift"] == "crops" else ("train",)),
        code=code("train_irn"),
        ckpt=f"{OUT}/irn/checkpoints",
    log:
        f"{OUT}/logs/train_irn.log",
    benchmark:
        f"{OUT}/benchmarks/train_irn.tsv"
    threads: threads_of("train_irn")
    priority: 1  # the pseudo-label chain goes before the supervised models
    resources:
        mem_mb=mem_mb("train_irn"),
        runtime=runtime("train_irn"),
        gpu=uses_gpu("train_irn"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/train_irn.py"


rule infer_irn:
    input:
        model=rules.train_irn.output.model,
        manifests=manifests("train", "eval"),
    output:
        irn=sharded(IRN_OUT),
    params:
        cfg=settings("cam.backbone", "irn.infer_pad_to", "irn.flip_aligned", splits=("train", "eval")),
        shard=shard_of,
        code=code("infer_irn"),
    log:
        f"{OUT}/logs/infer_irn{SHARD_SUFFIX}.log",
    benchmark:
        f"{OUT}/benchmarks/infer_irn{SHARD_SUFFIX}.tsv"
    threads: threads_of("infer_irn")
    priority: 1  # the pseudo-label chain goes before the supervised models
    resources:
        mem_mb=mem_mb("infer_irn"),
        runtime=runtime("infer_irn"),
        gpu=uses_gpu("infer_irn"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/infer_irn.py"
