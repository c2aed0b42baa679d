rule train_deeplab:
    input:
        sem=stage_file("sem"),
        cam_model=cam_model("deeplab"),
        train=manifest("train"),
        weights=weights("deeplab"),
    output:
        model=model("deeplab"),
        scripted=run_file(layout.DEEPLAB_SCRIPTED),
    log:
        log_file("train_deeplab"),
    benchmark:
        benchmark_file("train_deeplab")
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("train_deeplab")
    resources:
        mem_mb=mem_mb("train_deeplab"),
        runtime=runtime("train_deeplab"),
        gpu=uses_gpu("train_deeplab"),
    params:
        cfg=settings("train_deeplab"),
        code=code("train_deeplab"),
        ckpt=f"{OUT}/{layout.checkpoints('deeplab')}",
    script:
        "../scripts/train_deeplab.py"


rule eval_deeplab:
    input:
        model=rules.train_deeplab.output.model,
        val=manifest("val"),
    output:
        json=evaluation("deeplab"),
    log:
        log_file("eval_deeplab"),
    benchmark:
        benchmark_file("eval_deeplab")
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("eval_deeplab")
    resources:
        mem_mb=mem_mb("eval_deeplab"),
        runtime=runtime("eval_deeplab"),
        gpu=uses_gpu("eval_deeplab"),
    params:
        cfg=settings("eval_deeplab"),
        code=code("eval_deeplab"),
    script:
        "../scripts/eval_deeplab.py"
