rule export_public:
    input:
        cams=CAMS,
        sem=rules.propagate.output.sem,
        ins=rules.make_instances.output.ins,
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
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/export_public.py"
