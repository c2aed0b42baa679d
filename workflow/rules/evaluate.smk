rule eval_pseudo:
    input:
        sem=rules.propagate.output.sem,
        ins=rules.make_instances.output.ins,
        cc=rules.baselines.output.cc,
        sem_cc=rules.baselines.output.sem_cc,
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
    threads: 1
    priority: 1  # the pseudo-label chain goes before the supervised models
    resources:
        mem_mb=4000,
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/eval_pseudo.py"


rule diagnostics:
    input:
        cams=CAMS,
        irn=rules.infer_irn.output.irn,
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
    threads: 1
    resources:
        mem_mb=8000,
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/diagnostics.py"
