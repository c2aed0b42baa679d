rule train_deeplab:
    input:
        sem=rules.propagate.output.sem,
        cam_model=rules.train_cam.output.model,
    output:
        model=f"{OUT}/deeplab/model.pt",
    params:
        ckpt=f"{OUT}/deeplab/checkpoints",
    log:
        f"{OUT}/logs/train_deeplab.log",
    benchmark:
        f"{OUT}/benchmarks/train_deeplab.tsv"
    threads: THREADS
    resources:
        mem_mb=12000,
        gpu=1 if config["device"] != "cpu" else 0,
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/train_deeplab.py"


rule eval_deeplab:
    input:
        model=rules.train_deeplab.output.model,
    output:
        json=f"{OUT}/deeplab/eval.json",
    log:
        f"{OUT}/logs/eval_deeplab.log",
    benchmark:
        f"{OUT}/benchmarks/eval_deeplab.tsv"
    threads: THREADS
    resources:
        mem_mb=8000,
        gpu=1 if config["device"] != "cpu" else 0,
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/eval_deeplab.py"
