rule propagate:
    input:
        cams=rules.make_cam.output.cams,
        irn=rules.infer_irn.output.irn,
    output:
        sem=f"{OUT}/labels/sem_pseudo.h5",
    log:
        f"{OUT}/logs/propagate.log",
    benchmark:
        f"{OUT}/benchmarks/propagate.tsv"
    threads: THREADS
    resources:
        mem_mb=8000,
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/propagate.py"
