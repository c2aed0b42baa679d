rule make_instances:
    input:
        cams=rules.make_cam.output.cams,
        irn=rules.infer_irn.output.irn,
    output:
        ins=f"{OUT}/labels/ins_pseudo.h5",
        coco=f"{OUT}/labels/ins_pseudo_coco.json",
    log:
        f"{OUT}/logs/make_instances.log",
    benchmark:
        f"{OUT}/benchmarks/make_instances.tsv"
    threads: HALF_THREADS  # propagate and make_instances run side by side
    priority: 1  # the pseudo-label chain goes before the supervised models
    resources:
        mem_mb=8000,
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/make_instances.py"


rule baselines:
    input:
        cams=rules.make_cam.output.cams,
        sem=rules.propagate.output.sem,
    output:
        cc=f"{OUT}/labels/baseline_cc.h5",
        sem_cc=f"{OUT}/labels/baseline_sem_cc.h5",
    log:
        f"{OUT}/logs/baselines.log",
    benchmark:
        f"{OUT}/benchmarks/baselines.tsv"
    threads: 1
    priority: 1  # the pseudo-label chain goes before the supervised models
    resources:
        mem_mb=4000,
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/baselines.py"
