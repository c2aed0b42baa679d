rule propagate:
    input:
        cams=CAMS,
        irn=rules.infer_irn.output.irn,
        manifests=manifests("train", "eval"),
    output:
        sem=f"{OUT}/labels/sem_pseudo.h5",
    params:
        cfg=settings("propagate", "labels.sem_bg_threshold", splits=("train", "eval")),
        code=code("propagate"),
    log:
        f"{OUT}/logs/propagate.log",
    benchmark:
        f"{OUT}/benchmarks/propagate.tsv"
    threads: HALF_THREADS  # propagate and make_instances run side by side
    priority: 1  # the pseudo-label chain goes before the supervised models
    resources:
        mem_mb=8000,
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/propagate.py"
