rule gt_coco:
    input:
        split=lambda wc: manifest(wc.split),
    output:
        coco=run_file(layout.GT_COCO, split="{split}"),
    log:
        log_file("gt_coco_{split}"),
    benchmark:
        benchmark_file("gt_coco_{split}")
    wildcard_constraints:
        split="train|val",
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("gt_coco")
    resources:
        mem_mb=mem_mb("gt_coco"),
        runtime=runtime("gt_coco"),
    params:
        cfg=lambda wc: settings("gt_coco", wc.split),
        split_key=lambda wc: SPLIT_LISTS[wc.split],
        code=code("gt_coco"),
    script:
        "../scripts/gt_coco.py"


rule train_maskrcnn:
    input:
        coco=maskrcnn_train_json,
        cam_model=cam_model("maskrcnn"),
        manifests=manifests("train", "eval"),
        weights=weights("maskrcnn"),
    output:
        model=run_file(layout.MASKRCNN_MODEL, source="{source}"),
        scripted=run_file(layout.MASKRCNN_SCRIPTED, source="{source}"),
    log:
        log_file("train_maskrcnn_{source}"),
    benchmark:
        benchmark_file("train_maskrcnn_{source}")
    wildcard_constraints:
        source="pseudo|gt",
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("train_maskrcnn")
    resources:
        mem_mb=mem_mb("train_maskrcnn"),
        runtime=runtime("train_maskrcnn"),
        gpu=uses_gpu("train_maskrcnn"),
    params:
        cfg=settings("train_maskrcnn"),
        code=code("train_maskrcnn"),
        ckpt=lambda wc: f"{OUT}/{layout.checkpoints('maskrcnn' if wc.source == 'pseudo' else 'maskrcnn_gt')}",
    script:
        "../scripts/train_maskrcnn.py"


rule eval_maskrcnn:
    input:
        model=run_file(layout.MASKRCNN_MODEL, source="{source}"),
        val_coco=run_file(layout.GT_COCO, split="val"),
        val=manifest("val"),
    output:
        json=run_file(layout.MASKRCNN_EVAL, source="{source}"),
        predictions=run_file(layout.PREDICTIONS, source="{source}"),
    log:
        log_file("eval_maskrcnn_{source}"),
    benchmark:
        benchmark_file("eval_maskrcnn_{source}")
    wildcard_constraints:
        source="pseudo|gt",
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("eval_maskrcnn")
    resources:
        mem_mb=mem_mb("eval_maskrcnn"),
        runtime=runtime("eval_maskrcnn"),
        gpu=uses_gpu("eval_maskrcnn"),
    params:
        cfg=settings("eval_maskrcnn"),
        code=code("eval_maskrcnn"),
    script:
        "../scripts/eval_maskrcnn.py"
