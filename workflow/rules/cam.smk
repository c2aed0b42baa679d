if not EXTERNAL_CAMS:

    rule train_cam:
        input:
            train=manifest("train"),
            weights=weights("cam"),
        output:
            model=f"{OUT}/cam/model.pt",
        params:
            cfg=settings(*CAM_TRAIN, *TRAINING, splits=("train",)),
            code=code("train_cam"),
            ckpt=f"{OUT}/cam/checkpoints",
        log:
            f"{OUT}/logs/train_cam.log",
        benchmark:
            f"{OUT}/benchmarks/train_cam.tsv"
        threads: threads_of("train_cam")
        priority: 1  # the pseudo-label chain goes before the supervised models
        resources:
            mem_mb=mem_mb("train_cam"),
            runtime=runtime("train_cam"),
            gpu=uses_gpu("train_cam"),
        conda:
            "../../envs/irn.yaml"
        script:
            "../scripts/train_cam.py"


    rule make_cam:
        input:
            model=rules.train_cam.output.model,
            manifests=manifests("train", "eval"),
        output:
            cams=sharded(CAMS),
        params:
            cfg=settings("cam.backbone", "cam.scales", splits=("train", "eval")),
            shard=shard_of,
            code=code("make_cam"),
        log:
            f"{OUT}/logs/make_cam{SHARD_SUFFIX}.log",
        benchmark:
            f"{OUT}/benchmarks/make_cam{SHARD_SUFFIX}.tsv"
        threads: threads_of("make_cam")
        priority: 1  # the pseudo-label chain goes before the supervised models
        resources:
            mem_mb=mem_mb("make_cam"),
            runtime=runtime("make_cam"),
            gpu=uses_gpu("make_cam"),
        conda:
            "../../envs/irn.yaml"
        script:
            "../scripts/make_cam.py"

else:

    rule import_cam:
        input:
            external_cam_inputs,
            manifests=manifests("train", "eval"),
        output:
            cams=CAMS,
        params:
            cfg=settings(splits=("train", "eval")),
            source=EXTERNAL_CAMS,
            code=code("import_cam"),
        log:
            f"{OUT}/logs/import_cam.log",
        benchmark:
            f"{OUT}/benchmarks/import_cam.tsv"
        threads: threads_of("import_cam")
        priority: 1
        resources:
            mem_mb=mem_mb("import_cam"),
            runtime=runtime("import_cam"),
        conda:
            "../../envs/irn.yaml"
        script:
            "../scripts/import_cam.py"


rule eval_cam:
    input:
        cams=CAMS,
        eval=manifest("eval"),
    output:
        json=f"{OUT}/cam/eval.json",
    params:
        cfg=settings("cam.eval_threshold", "cam.eval_sweep", splits=("eval",)),
        code=code("eval_cam"),
    log:
        f"{OUT}/logs/eval_cam.log",
    benchmark:
        f"{OUT}/benchmarks/eval_cam.tsv"
    threads: threads_of("eval_cam")
    resources:
        mem_mb=mem_mb("eval_cam"),
        runtime=runtime("eval_cam"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/eval_cam.py"
