rule train_cam:
    input:
        dataset_files(),
    output:
        model=f"{OUT}/cam/model.pt",
    params:
        ckpt=f"{OUT}/cam/checkpoints",
    log:
        f"{OUT}/logs/train_cam.log",
    benchmark:
        f"{OUT}/benchmarks/train_cam.tsv"
    threads: THREADS
    priority: 1  # the pseudo-label chain goes before the supervised models
    resources:
        mem_mb=8000,
        gpu=1 if config["device"] != "cpu" else 0,
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/train_cam.py"


rule make_cam:
    input:
        model=rules.train_cam.output.model,
    output:
        cams=f"{OUT}/cam/cams.h5",
    log:
        f"{OUT}/logs/make_cam.log",
    benchmark:
        f"{OUT}/benchmarks/make_cam.tsv"
    threads: THREADS
    priority: 1  # the pseudo-label chain goes before the supervised models
    resources:
        mem_mb=8000,
        gpu=1 if config["device"] != "cpu" else 0,
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/make_cam.py"


rule eval_cam:
    input:
        cams=rules.make_cam.output.cams,
    output:
        json=f"{OUT}/cam/eval.json",
    log:
        f"{OUT}/logs/eval_cam.log",
    benchmark:
        f"{OUT}/benchmarks/eval_cam.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/eval_cam.py"
