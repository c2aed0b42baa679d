rule export_public:
    input:
        cams=CAMS,
        sem=SEM,
        ins=INS,
        manifests=manifests("train", "eval"),
    output:
        folder=directory(f"{OUT}/public"),
    params:
        cfg=settings(splits=("train", "eval")),
        code=code("export_public"),
    log:
        f"{OUT}/logs/export_public.log",
    benchmark:
        f"{OUT}/benchmarks/export_public.tsv"
    threads: threads_of("export_public")
    resources:
        mem_mb=mem_mb("export_public"),
        runtime=runtime("export_public"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/export_public.py"
