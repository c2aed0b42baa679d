rule make_instances:
    input:
        cams=CAMS,
        irn=rules.infer_irn.output.irn,
        manifests=manifests("train", "eval"),
    output:
        ins=f"{OUT}/labels/ins_pseudo.h5",
        coco=f"{OUT}/labels/ins_pseudo_coco.json",
    params:
        cfg=settings("propagate", *(f"labels.{k}" for k in ("ins_bg_threshold", "centroid_iterations",
                                                            "centroid_threshold", "min_fraction", "min_score")),
                     splits=("train", "eval")),
        code=code("make_instances"),
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
        cams=CAMS,
        sem=rules.propagate.output.sem,
        eval=manifest("eval"),
    output:
        cc=f"{OUT}/labels/baseline_cc.h5",
        sem_cc=f"{OUT}/labels/baseline_sem_cc.h5",
    params:
        cfg=settings("cam.eval_threshold", "labels.min_fraction", splits=("eval",)),
        code=code("baselines"),
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
