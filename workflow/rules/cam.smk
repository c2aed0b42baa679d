if not EXTERNAL_CAMS:

    rule train_cam:
        input:
            train=manifest("train"),
            weights=weights("cam"),
        output:
            model=model("cam"),
        log:
            log_file("train_cam"),
        benchmark:
            benchmark_file("train_cam")
        priority: 1  # the pseudo-label chain goes before the supervised models
        conda:
            "../../envs/irn.yaml"
        threads: threads_of("train_cam")
        resources:
            mem_mb=mem_mb("train_cam"),
            runtime=runtime("train_cam"),
            gpu=uses_gpu("train_cam"),
        params:
            cfg=settings("train_cam"),
            code=code("train_cam"),
            ckpt=f"{OUT}/{layout.checkpoints('cam')}",
        script:
            "../scripts/train_cam.py"

    rule make_cam:
        input:
            model=rules.train_cam.output.model,
            manifests=manifests("train", "eval"),
        output:
            cams=sharded("cams"),
        log:
            log_file(f"make_cam{SHARD_SUFFIX}"),
        benchmark:
            benchmark_file(f"make_cam{SHARD_SUFFIX}")
        priority: 1
        conda:
            "../../envs/irn.yaml"
        threads: threads_of("make_cam")
        resources:
            mem_mb=mem_mb("make_cam"),
            runtime=runtime("make_cam"),
            gpu=uses_gpu("make_cam"),
        params:
            cfg=settings("make_cam"),
            shard=shard_of,
            code=code("make_cam"),
        script:
            "../scripts/make_cam.py"

else:

    rule import_cam:
        input:
            external_cam_inputs,
            manifests=manifests("train", "eval"),
        output:
            cams=stage_file("cams"),
        log:
            log_file("import_cam"),
        benchmark:
            benchmark_file("import_cam")
        priority: 1
        conda:
            "../../envs/irn.yaml"
        threads: threads_of("import_cam")
        resources:
            mem_mb=mem_mb("import_cam"),
            runtime=runtime("import_cam"),
        params:
            cfg=settings("import_cam"),
            code=code("import_cam"),
        script:
            "../scripts/import_cam.py"


rule eval_cam:
    input:
        cams=stage_file("cams"),
        eval=manifest("eval"),
    output:
        json=evaluation("cam"),
    log:
        log_file("eval_cam"),
    benchmark:
        benchmark_file("eval_cam")
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("eval_cam")
    resources:
        mem_mb=mem_mb("eval_cam"),
        runtime=runtime("eval_cam"),
    params:
        cfg=settings("eval_cam"),
        code=code("eval_cam"),
    script:
        "../scripts/eval_cam.py"
