rule eval_pseudo:
    input:
        sem=stage_file("sem"),
        ins=stage_file("ins"),
        cc=stage_file("baseline_cc"),
        sem_cc=stage_file("baseline_sem_cc"),
        walk=stage_file("walk"),
        eval=manifest("eval"),
    output:
        json=evaluation("labels"),
    log:
        log_file("eval_pseudo"),
    benchmark:
        benchmark_file("eval_pseudo")
    priority: 1  # the pseudo-label chain goes before the supervised models
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("eval_pseudo")
    resources:
        mem_mb=mem_mb("eval_pseudo"),
        runtime=runtime("eval_pseudo"),
    params:
        cfg=settings("eval_pseudo"),
        code=code("eval_pseudo"),
    script:
        "../scripts/eval_pseudo.py"


rule diagnostics:
    input:
        cams=stage_file("cams"),
        irn_model=model("irn"),  # its maps are remade (irn_out.h5 is temporary)
        eval=manifest("eval"),
    output:
        json=evaluation("diagnostics"),
    log:
        log_file("diagnostics"),
    benchmark:
        benchmark_file("diagnostics")
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("diagnostics")
    resources:
        mem_mb=mem_mb("diagnostics"),
        runtime=runtime("diagnostics"),
        gpu=uses_gpu("diagnostics"),
    params:
        cfg=settings("diagnostics"),
        code=code("diagnostics"),
    script:
        "../scripts/diagnostics.py"
