rule export_public:
    input:
        cams=stage_file("cams"),
        sem=stage_file("sem"),
        ins=stage_file("ins"),
        manifests=manifests("train", "eval"),
    output:
        folder=directory(f"{OUT}/{layout.PUBLIC}"),
    log:
        log_file("export_public"),
    benchmark:
        benchmark_file("export_public")
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("export_public")
    resources:
        mem_mb=mem_mb("export_public"),
        runtime=runtime("export_public"),
    params:
        cfg=settings("export_public"),
        code=code("export_public"),
    script:
        "../scripts/export_public.py"
