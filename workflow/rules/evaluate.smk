rule eval_pseudo:
    input:
        sem=SEM,
        ins=INS,
        cc=BASELINE_CC,
        sem_cc=BASELINE_SEM_CC,
        eval=manifest("eval"),
    output:
        json=f"{OUT}/labels/eval.json",
    params:
        cfg=settings("evaluate", splits=("eval",)),
        code=code("eval_pseudo"),
    log:
        f"{OUT}/logs/eval_pseudo.log",
    benchmark:
        f"{OUT}/benchmarks/eval_pseudo.tsv"
    threads: threads_of("eval_pseudo")
    priority: 1  # the pseudo-label chain goes before the supervised models
    resources:
        mem_mb=mem_mb("eval_pseudo"),
        runtime=runtime("eval_pseudo"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/eval_pseudo.py"


rule diagnostics:
    input:
        cams=CAMS,
        irn=IRN_OUT,
        eval=manifest("eval"),
    output:
        json=f"{OUT}/labels/diagnostics.json",
    params:
        cfg=settings("propagate", "labels", "evaluate", "diagnostics", splits=("eval",)),
        code=code("diagnostics"),
    log:
        f"{OUT}/logs/diagnostics.log",
    benchmark:
        f"{OUT}/benchmarks/diagnostics.tsv"
    threads: threads_of("diagnostics")
    resources:
        mem_mb=mem_mb("diagnostics"),
        runtime=runtime("diagnostics"),
        gpu=uses_gpu("diagnostics"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/diagnostics.py"
