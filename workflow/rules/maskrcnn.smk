rule gt_coco:
    input:
        split=lambda wc: manifest(wc.split),
    output:
        coco=f"{OUT}/maskrcnn/gt_{{split}}_coco.json",
    params:
        cfg=lambda wc: settings(splits=(wc.split,)),
        split_key=lambda wc: SPLITS[wc.split],
        code=code("gt_coco"),
    wildcard_constraints:
        split="train|val",
    log:
        f"{OUT}/logs/gt_coco_{{split}}.log",
    threads: threads_of("gt_coco")
    resources:
        mem_mb=mem_mb("gt_coco"),
        runtime=runtime("gt_coco"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/gt_coco.py"


rule train_maskrcnn:
    input:
        coco=lambda wc: maskrcnn_train_json(wc.source),
        cam_model=cam_model("maskrcnn"),
        manifests=manifests("train", "eval"),
        weights=weights("maskrcnn"),
    output:
        model=f"{OUT}/maskrcnn/{{source}}/model.pt",
    params:
        # the images are those of the training JSON (pseudo labels: train and eval ids)
        cfg=settings(*MASKRCNN_TRAIN, "cam.backbone", *init_keys("maskrcnn"), *TRAINING,
                     splits=("train", "eval")),
        code=code("train_maskrcnn"),
        ckpt=lambda wc: f"{OUT}/maskrcnn/{wc.source}/checkpoints",
    wildcard_constraints:
        source="pseudo|gt",
    log:
        f"{OUT}/logs/train_maskrcnn_{{source}}.log",
    benchmark:
        f"{OUT}/benchmarks/train_maskrcnn_{{source}}.tsv"
    threads: threads_of("train_maskrcnn")
    resources:
        mem_mb=mem_mb("train_maskrcnn"),
        runtime=runtime("train_maskrcnn"),
        gpu=uses_gpu("train_maskrcnn"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/train_maskrcnn.py"


rule eval_maskrcnn:
    input:
        model=f"{OUT}/maskrcnn/{{source}}/model.pt",
        val_coco=f"{OUT}/maskrcnn/gt_val_coco.json",
        val=manifest("val"),
    output:
        json=f"{OUT}/maskrcnn/{{source}}/eval.json",
        predictions=f"{OUT}/maskrcnn/{{source}}/predictions_val.json",
    params:
        cfg=settings(*MASKRCNN_MODEL, "cam.backbone", "evaluate", splits=("val",)),
        code=code("eval_maskrcnn"),
    wildcard_constraints:
        source="pseudo|gt",
    log:
        f"{OUT}/logs/eval_maskrcnn_{{source}}.log",
    benchmark:
        f"{OUT}/benchmarks/eval_maskrcnn_{{source}}.tsv"
    threads: threads_of("eval_maskrcnn")
    resources:
        mem_mb=mem_mb("eval_maskrcnn"),
        runtime=runtime("eval_maskrcnn"),
        gpu=uses_gpu("eval_maskrcnn"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/eval_maskrcnn.py"
