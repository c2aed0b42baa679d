rule train_deeplab:
    input:
        sem=SEM,
        cam_model=cam_model("deeplab"),
        train=manifest("train"),
        weights=weights("deeplab"),
    output:
        model=f"{OUT}/deeplab/model.pt",
    params:
        cfg=settings(*DEEPLAB_TRAIN, "cam.backbone", *init_keys("deeplab"), *TRAINING, splits=("train",)),
        code=code("train_deeplab"),
        ckpt=f"{OUT}/deeplab/checkpoints",
    log:
        f"{OUT}/logs/train_deeplab.log",
    benchmark:
        f"{OUT}/benchmarks/train_deeplab.tsv"
    threads: threads_of("train_deeplab")
    resources:
        mem_mb=mem_mb("train_deeplab"),
        runtime=runtime("train_deeplab"),
        gpu=uses_gpu("train_deeplab"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/train_deeplab.py"


rule eval_deeplab:
    input:
        model=rules.train_deeplab.output.model,
        val=manifest("val"),
    output:
        json=f"{OUT}/deeplab/eval.json",
    params:
        cfg=settings("cam.backbone", "deeplab.test_scales", "deeplab.test_flip", "deeplab.crf", splits=("val",)),
        code=code("eval_deeplab"),
    log:
        f"{OUT}/logs/eval_deeplab.log",
    benchmark:
        f"{OUT}/benchmarks/eval_deeplab.tsv"
    threads: threads_of("eval_deeplab")
    resources:
        mem_mb=mem_mb("eval_deeplab"),
        runtime=runtime("eval_deeplab"),
        gpu=uses_gpu("eval_deeplab"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/eval_deeplab.py"
